"""Reading still images and fitting them (and their disparity maps) to a frame size."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from parallax_pipeline.engine.errors import MediaError

_JPEG_MAGIC = b"\xff\xd8\xff"


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB, HxWx3.

    Decodes from bytes (so any path, unicode included, works). JPEGs are turned upright
    by their EXIF orientation. Grayscale becomes three equal channels, 16-bit and float
    images are scaled to 8 bits, and an alpha channel is composited over white.

    Raises `MediaError` naming the file when it is missing, not a file, empty, unreadable
    or not a decodable image.
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
    buf = np.frombuffer(data, np.uint8)
    # JPEG has no alpha: decode in colour so EXIF orientation is applied. Other formats
    # keep alpha and bit depth (IMREAD_UNCHANGED) and are converted below.
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH if data.startswith(_JPEG_MAGIC) else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise MediaError(f"{p}: cannot decode image ({str(exc).strip().splitlines()[-1]})") from exc
    if img is None or img.size == 0:
        raise MediaError(f"{p}: cannot decode image (corrupt file or unsupported format)")
    try:
        return _to_rgb8(img)
    except ValueError as exc:
        raise MediaError(f"{p}: {exc}") from exc


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
