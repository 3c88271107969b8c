"""Small preview pictures for Dagster metadata (markdown images with data URIs).

Metadata is stored in Dagster's event log, so previews are kept small: downscaled to
``max_width`` and encoded as PNG, or JPEG when that is smaller (photographs).
"""

from __future__ import annotations

import base64

import cv2
import numpy as np


def _to_bgr(image: np.ndarray, max_width: int) -> np.ndarray:
    """uint8 gray/RGB/RGBA -> BGR(A) for OpenCV, downscaled (never enlarged) to max_width."""
    if image.dtype != np.uint8:
        raise ValueError(f"preview image must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    elif image.ndim != 2:
        raise ValueError(f"preview image must be HxW, HxWx3 or HxWx4, got {image.shape}")
    h, w = image.shape[:2]
    if w > max_width:
        new_h = max(1, round(h * max_width / w))
        # INTER_AREA averages source pixels: no aliasing shimmer when shrinking.
        image = cv2.resize(image, (max_width, new_h), interpolation=cv2.INTER_AREA)
    return image


def _data_uri(ext: str, mime: str, bgr: np.ndarray, params: list[int]) -> str:
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise ValueError(f"could not encode preview as {ext}")
    return f"data:{mime};base64,{base64.b64encode(buf.tobytes()).decode('ascii')}"


def png_data_uri(image: np.ndarray, max_width: int = 320) -> str:
    """uint8 RGB/gray image -> ``data:image/png;base64,...`` at most ``max_width`` wide."""
    return _data_uri(".png", "image/png", _to_bgr(image, max_width), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def jpeg_data_uri(image: np.ndarray, max_width: int = 320, quality: int = 85) -> str:
    """uint8 RGB/gray image -> ``data:image/jpeg;base64,...`` (alpha dropped)."""
    bgr = _to_bgr(image, max_width)
    if bgr.ndim == 3 and bgr.shape[2] == 4:
        bgr = bgr[:, :, :3]
    return _data_uri(".jpg", "image/jpeg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])


def markdown_image(image: np.ndarray, alt: str, max_width: int = 320) -> str:
    """``![alt](data:...)`` using whichever of PNG (exact; wins on flat graphics such as
    waveforms and depth maps) and JPEG (wins on photographs) is smaller."""
    uri = min(png_data_uri(image, max_width), jpeg_data_uri(image, max_width), key=len)
    safe_alt = alt.replace("[", "(").replace("]", ")").replace("\n", " ")
    return f"![{safe_alt}]({uri})"


_BG = (24, 24, 28)
_WAVE = (90, 180, 255)
_CLIP = (255, 80, 80)
_AXIS = (150, 150, 150)
_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


def _step(duration: float, width: int, min_px: int) -> int:
    """Smallest 'nice' number of whole seconds whose spacing is at least min_px pixels."""
    for step in _NICE_STEPS:
        if duration <= 0 or step * width / duration >= min_px:
            return step
    return _NICE_STEPS[-1]


def waveform_image(samples: np.ndarray, width: int = 640, height: int = 160, sample_rate: int = 48000) -> np.ndarray:
    """Draw a (channels, N) mix as uint8 RGB: one lane per channel with its min/max
    envelope per pixel column (columns reaching 0.98 in red, as the limiter ceiling),
    and a time axis with ticks at whole seconds (coarser when they would crowd)."""
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    channels, n = samples.shape
    axis_h = 16
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = _BG
    lane_h = (height - axis_h) // max(channels, 1)
    if lane_h < 4 or width < 1:
        raise ValueError(f"waveform image {width}x{height} is too small for {channels} channel(s)")
    if n:
        # Column x covers samples [edges[x], edges[x+1]); reduceat gives min/max per column.
        edges = (np.arange(width) * n // width).astype(np.intp)
        rows = np.arange(lane_h)[:, None]
        for c in range(channels):
            hi = np.maximum.reduceat(samples[c], edges).clip(-1, 1)
            lo = np.minimum.reduceat(samples[c], edges).clip(-1, 1)
            mid = (lane_h - 1) / 2
            top = np.floor(mid - hi * mid).astype(int)
            bottom = np.ceil(mid - lo * mid).astype(int)
            mask = (rows >= top[None, :]) & (rows <= bottom[None, :])
            lane = img[c * lane_h : (c + 1) * lane_h]
            lane[mask] = _WAVE
            clipped = np.maximum(np.abs(hi), np.abs(lo)) >= 0.98
            lane[mask & clipped[None, :]] = _CLIP
            lane[int(mid), :][~mask[int(mid)]] = _AXIS  # zero line
    draw_time_axis(img, height - axis_h, n / sample_rate, _AXIS)
    return img


def draw_time_axis(img: np.ndarray, y0: int, duration: float, colour: tuple[int, int, int]) -> None:
    """Draw a time axis along row `y0` of an image spanning `duration` seconds, in place:
    ticks at whole seconds (coarser when they would crowd), labelled every few."""
    height, width = img.shape[:2]
    img[y0, :] = colour
    if duration <= 0:
        return
    tick, label = _step(duration, width, 6), _step(duration, width, 48)
    for sec in range(0, int(duration) + 1, tick):
        x = min(width - 1, round(sec * width / duration))
        major = sec % label == 0
        img[y0 : y0 + (6 if major else 3), x] = colour
        if major and x < width - 20:
            text = f"{sec // 60}:{sec % 60:02d}" if duration >= 60 else f"{sec}s"
            cv2.putText(img, text, (x + 2, height - 3), cv2.FONT_HERSHEY_PLAIN, 0.8, colour, 1, cv2.LINE_AA)
