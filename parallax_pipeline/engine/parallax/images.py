"""Reading still images and fitting them (and their disparity maps) to a frame size."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from parallax_pipeline.engine.errors import MediaError

_JPEG_MAGIC = b"\xff\xd8\xff"


IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".jfif", ".webp", ".bmp", ".tif", ".tiff",  # OpenCV
    ".gif", ".apng", ".avif", ".tga", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".jp2", ".j2k", ".qoi", ".psd",  # Pillow
)
"""Picture files the project reads: OpenCV's formats, and the still formats Pillow opens
(of an animation, the first frame)."""
MAX_PIXELS = 100_000_000
"""The largest picture taken (100 megapixels; 8K is 33): a bigger one, or a file that
claims to be bigger (a decompression bomb), is refused before it is decoded."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB, HxWx3.

    Decodes from bytes (so any path, unicode included, works) with OpenCV, or with Pillow
    for the formats OpenCV does not read (GIF and other `IMAGE_SUFFIXES`; an animation
    gives its first frame). JPEGs are turned upright by their EXIF orientation.
    Grayscale becomes three equal channels, 16-bit and float images are scaled to 8 bits,
    and an alpha channel is composited over white.

    Raises `MediaError` naming the file when it is missing, not a file, empty, unreadable,
    larger than `MAX_PIXELS` or not a decodable image.
    """
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: image file not found")
    if not p.is_file():
        raise MediaError(f"{p}: not a file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MediaError(f"{p}: cannot read image file ({exc.strerror or exc})") from exc
    if not data:
        raise MediaError(f"{p}: image file is empty")
    _check_size(p, data)
    buf = np.frombuffer(data, np.uint8)
    # JPEG has no alpha: decode in colour so EXIF orientation is applied. Other formats
    # keep alpha and bit depth (IMREAD_UNCHANGED) and are converted below.
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH if data.startswith(_JPEG_MAGIC) else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        img = _decode_with_pillow(p, data)
    try:
        return _to_rgb8(img)
    except ValueError as exc:
        raise MediaError(f"{p}: {exc}") from exc


def _check_size(path: Path, data: bytes) -> None:
    """Refuse a picture whose header gives more than `MAX_PIXELS`, before decoding it."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            width, height = header.size
    except Image.DecompressionBombError as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(claimed.group(1)) / 1e6:.0f} MP" if claimed else "too many pixels"
        raise MediaError(
            f"{path}: image claims {size}; the largest picture Parallax Studio takes is "
            f"{MAX_PIXELS / 1e6:.0f} MP: scale it down"
        ) from exc
    except Exception:  # noqa: BLE001 - not Pillow's format: OpenCV decides below
        return
    if width * height > MAX_PIXELS:
        raise MediaError(
            f"{path}: image is {width}x{height} pixels ({width * height / 1e6:.0f} MP); "
            f"the largest picture Parallax Studio takes is {MAX_PIXELS / 1e6:.0f} MP: scale it down"
        )


def _decode_with_pillow(path: Path, data: bytes) -> np.ndarray:
    """Decode what OpenCV cannot with Pillow: RGB or RGBA as OpenCV's BGR(A) order."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.seek(0)  # an animation: its first frame
            rgba = np.asarray(picture.convert("RGBA"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{path}: cannot decode image (corrupt file or unsupported format)") from exc
    return np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if img.dtype in (np.float32, np.float64, np.float16):
        img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.dtype == np.int8:
        return (img.astype(np.int16) + 128).astype(np.uint8)
    if img.dtype == np.int16:
        return ((img.astype(np.int32) + 32768 + 128) // 257).astype(np.uint8)
    raise ValueError(f"unsupported pixel type {img.dtype}")


def _to_rgb8(img: np.ndarray) -> np.ndarray:
    """Decoded OpenCV image (gray, gray+alpha, BGR or BGRA; any depth) -> uint8 RGB."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise ValueError(f"unsupported image layout {img.shape}")
    channels = img.shape[2]
    alpha = None
    if channels in (2, 4):
        alpha = img[:, :, -1]
        img = img[:, :, :-1]
        channels -= 1
    if channels not in (1, 3):
        raise ValueError(f"unsupported number of channels ({img.shape[2]})")
    rgb = _to_uint8(np.ascontiguousarray(img))
    rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB) if channels == 1 else cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB)
    if alpha is not None:
        a = _to_uint8(np.ascontiguousarray(alpha)).astype(np.float32)[:, :, None] / 255.0
        if a.min() < 1.0:
            rgb = (rgb.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def cover_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover ``size`` = (width, height) and crop the centre.

    Works on any HxW or HxWxC array OpenCV can resize (uint8 images, float32 disparity
    maps): the same input shape and size always give the same crop, so an image and its
    disparity map (resized to the image's shape first) stay aligned. The largest centred
    region with the target's aspect ratio is cut out and resized to exactly ``size``
    (INTER_AREA when shrinking, INTER_LINEAR when enlarging). The result is a new array.
    """
    tw, th = (int(v) for v in size)
    if tw < 1 or th < 1:
        raise ValueError(f"target size must be positive, got {size}")
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected an HxW or HxWxC array, got shape {image.shape}")
    h, w = image.shape[:2]
    scale = max(tw / w, th / h)  # output pixels per source pixel
    cw = min(w, max(1, round(tw / scale)))
    ch = min(h, max(1, round(th / scale)))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    region = image[y0 : y0 + ch, x0 : x0 + cw]
    if (cw, ch) == (tw, th):
        return region.copy()
    shrinking = cw * ch > tw * th
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(region), (tw, th), interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:  # cv2 drops a single channel axis
        out = out[:, :, None]
    return out


FITS = ("cover", "contain")
"""How a picture fills a frame of another aspect: ``cover`` scales it until it covers the
frame and crops the excess (the default); ``contain`` shows all of it, and the bands
beside it are filled with a soft continuation of the picture (inpainted, as hidden
background is), never black."""


def fit_scale(source_size: tuple[int, int], frame_size: tuple[int, int], fit: str = "cover") -> float:
    """Frame pixels per source pixel when a ``source_size`` picture fits ``frame_size``
    (both (width, height)) by ``fit``."""
    if fit not in FITS:
        raise ValueError(f"unknown fit {fit!r}; use one of {FITS}")
    (sw, sh), (fw, fh) = source_size, frame_size
    if min(sw, sh, fw, fh) < 1:
        raise ValueError(f"sizes must be positive, got {source_size} and {frame_size}")
    return max(fw / sw, fh / sh) if fit == "cover" else min(fw / sw, fh / sh)


def place_on_canvas(
    array: np.ndarray, scale: float, canvas_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``array`` (an image or a float map, HxW[xC]) by ``scale`` about its centre
    and centre it on a canvas of ``canvas_size`` = (width, height).

    Returns the canvas and a bool mask of the canvas pixels the picture covers; the
    others hold the picture's replicated border and are meant to be inpainted. Large
    reductions are prefiltered (INTER_AREA) so they do not alias; the placement is
    exact to the sub-pixel (a picture and its disparity map land on the same pixels).
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    cw, ch = (int(v) for v in canvas_size)
    h, w = array.shape[:2]
    src = np.ascontiguousarray(array)
    sx = sy = float(scale)
    if scale < 0.75:  # shrink most of the way with area averaging, the rest by the warp
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        src = cv2.resize(src, (rw, rh), interpolation=cv2.INTER_AREA)
        if array.ndim == 3 and src.ndim == 2:
            src = src[:, :, None]
        sx, sy = scale * w / rw, scale * h / rh  # what is left after the resize (close to 1)
        h, w = src.shape[:2]
    # centres coincide: (cw-1)/2 = s·((w-1)/2) + t
    matrix = np.float32([[sx, 0, (cw - 1) / 2.0 - sx * (w - 1) / 2.0], [0, sy, (ch - 1) / 2.0 - sy * (h - 1) / 2.0]])
    out = cv2.warpAffine(src, matrix, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if array.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    xs = (np.arange(cw, dtype=np.float64) - matrix[0, 2]) / sx
    ys = (np.arange(ch, dtype=np.float64) - matrix[1, 2]) / sy
    inside_x = (xs >= -0.5) & (xs <= w - 0.5)
    inside_y = (ys >= -0.5) & (ys <= h - 0.5)
    return out, inside_y[:, None] & inside_x[None, :]
