"""Depth maps: disparity preparation, guided upsampling, files and previews.

Every depth map in the engine is *disparity* (relative inverse depth) as float32 HxW in
[0, 1], where 1 is the nearest surface. Model output, files on disk and previews all use
that one convention, and every map reaches the renderer through `prepare_disparity`:
a model's prediction and a supplied depth file alike (`supplied_disparity`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from parallax_pipeline.engine.errors import MediaError, short_reason
from parallax_pipeline.engine.files import write_atomic


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 picture as contiguous HxWx3 RGB (grey repeated, alpha dropped)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"images must be uint8 numpy arrays, got {type(image).__name__} {getattr(image, 'dtype', '')}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[:, :, :3])
    raise ValueError(f"images must be HxWx3 RGB, got shape {image.shape}")


# --------------------------------------------------------------------------- depth preparation

GUIDE_RADIUS = 4
"""Window radius (px at the disparity map's resolution) of the guided upsampling."""
GUIDE_EPS = 1e-3
"""Guided filter regularisation: image contrast (squared, in [0, 1] units) below which a
window follows the disparity map rather than the picture."""


def _box(values: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(values, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_upsample(
    disparity: np.ndarray, image: np.ndarray, radius: int = GUIDE_RADIUS, eps: float = GUIDE_EPS
) -> np.ndarray:
    """Upsample a low-resolution disparity map to ``image``'s size, its edges snapped to the
    image's edges: the fast guided filter (He & Sun, 2015) with the colour image as guide.

    Per window of the small map, disparity is fitted as a linear function of the RGB
    colour (``d ≈ a·I + b``, ridge-regularised by ``eps``); the coefficients are
    averaged, upsampled smoothly and applied to the full-resolution colours. Where a
    depth step coincides with a colour step the result switches at the colour step's
    exact pixel, not along a bicubic ramp; in flat colour it is the smooth map.
    ``disparity``: float HxW (any scale; [0, 1] suits ``eps``); ``image``: uint8 RGB.
    Returns float32 at the image's size.
    """
    d = np.asarray(disparity, dtype=np.float32)
    rgb = as_rgb(np.asarray(image))
    height, width = rgb.shape[:2]
    small_h, small_w = d.shape
    guide_small = cv2.resize(rgb, (small_w, small_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    radius = max(1, min(radius, (min(small_h, small_w) - 1) // 2))
    mean_i = _box(guide_small, radius)
    mean_d = _box(d, radius)
    cov_id = _box(guide_small * d[:, :, None], radius) - mean_i * mean_d[:, :, None]
    # the 3x3 colour covariance of each window, regularised, inverted in closed form
    r, g, b = (guide_small[:, :, i] for i in range(3))
    mr, mg, mb = (mean_i[:, :, i] for i in range(3))
    rr = _box(r * r, radius) - mr * mr + eps
    rg = _box(r * g, radius) - mr * mg
    rb = _box(r * b, radius) - mr * mb
    gg = _box(g * g, radius) - mg * mg + eps
    gb = _box(g * b, radius) - mg * mb
    bb = _box(b * b, radius) - mb * mb + eps
    inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    cr, cg, cb = (cov_id[:, :, i] for i in range(3))
    a_r = (inv_rr * cr + inv_rg * cg + inv_rb * cb) / det
    a_g = (inv_rg * cr + inv_gg * cg + inv_gb * cb) / det
    a_b = (inv_rb * cr + inv_gb * cg + inv_bb * cb) / det
    offset = mean_d - a_r * mr - a_g * mg - a_b * mb
    coefficients = _box(np.dstack([a_r, a_g, a_b, offset]), radius)
    if (small_h, small_w) != (height, width):
        coefficients = cv2.resize(coefficients, (width, height), interpolation=cv2.INTER_LINEAR)
    guide = rgb.astype(np.float32) / 255.0
    out = (coefficients[:, :, :3] * guide).sum(axis=2, dtype=np.float32)
    out += coefficients[:, :, 3]
    return out.astype(np.float32, copy=False)


def prepare_disparity(
    disparity: np.ndarray,
    image: np.ndarray,
    low_pct: float = 1.0,
    high_pct: float = 99.0,
    normalize: bool = True,
) -> np.ndarray:
    """A raw disparity-like map (larger = nearer, any scale) -> float32 HxW in [0, 1] at
    ``image``'s size: what the renderer takes.

    Non-finite values become the median; the map is normalised robustly (the
    ``low_pct`` percentile maps to 0, ``high_pct`` to 1, beyond is clipped, so a single
    outlier cannot flatten the scene); a smaller map is upsampled with
    `guided_upsample` (edges aligned with the picture's) and a larger one shrunk with
    area averaging. A flat map (no depth information) becomes a constant 0.5, so the
    whole picture moves as one plane. ``disparity`` may be HxW or HxWxC (channels are
    averaged). With ``normalize=False`` (a map that already is disparity in [0, 1], such
    as a supplied depth file) the values are only clipped, not rescaled.
    """
    d = np.asarray(disparity)
    if d.ndim == 3:
        d = d[:, :, 0] if d.shape[2] == 1 else d.mean(axis=2)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"expected an HxW disparity map, got shape {np.shape(disparity)}")
    d = d.astype(np.float32)
    finite = np.isfinite(d)
    if not finite.any():
        raise ValueError("disparity map has no finite values")
    if not finite.all():
        d = np.where(finite, d, np.float32(np.median(d[finite])))
    height, width = np.asarray(image).shape[:2]

    def robust(values: np.ndarray) -> np.ndarray | None:
        if not normalize:
            return np.clip(values, 0.0, 1.0)
        step = max(1, int((values.size / 500_000) ** 0.5))  # percentiles on <= ~0.5 Mpx
        lo, hi = (float(v) for v in np.percentile(values[::step, ::step], [low_pct, high_pct]))
        if not hi - lo > np.finfo(np.float32).eps * max(1.0, abs(lo), abs(hi)):
            return None
        out = (values - np.float32(lo)) * np.float32(1.0 / (hi - lo))
        return np.clip(out, 0.0, 1.0, out=out)

    d = robust(d)
    if d is None:
        return np.full((height, width), 0.5, np.float32)
    if d.shape != (height, width):
        if d.shape[0] * d.shape[1] > height * width:
            d = cv2.resize(d, (width, height), interpolation=cv2.INTER_AREA)
        else:
            d = guided_upsample(d, image)
        d = robust(d)
        if d is None:
            return np.full((height, width), 0.5, np.float32)
    return np.ascontiguousarray(d, dtype=np.float32)


# --------------------------------------------------------------------------- disparity maps


def normalize_disparity(raw: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Map raw disparity to [0, 1] float32 between two percentiles (not min/max, so a few
    outlier pixels cannot flatten the scene). Non-finite values are ignored for the
    percentiles; NaN becomes 0. Constant (or empty/all-NaN) input gives zeros."""
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    data = np.asarray(raw, dtype=np.float64)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(data.shape, dtype=np.float32)
    low, high = np.percentile(finite, [low_pct, high_pct])
    if not high - low > np.finfo(np.float32).eps * max(1.0, abs(low), abs(high)):
        return np.zeros(data.shape, dtype=np.float32)
    out = np.clip((data - low) / (high - low), 0.0, 1.0)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def read_depth_file(path: Path) -> np.ndarray:
    """Read a depth map as disparity float32 HxW in [0, 1], 1 = nearest.

    16-bit PNG (value/65535) or 8-bit PNG (/255), grayscale or the first channel; or .npy:
    floats already in [0, 1] are taken as they are, other floats are scaled min..max to
    [0, 1]. The map keeps the file's size (`supplied_disparity` fits it to its picture).
    Problems raise MediaError naming the file.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            encoded = np.frombuffer(path.read_bytes(), dtype=np.uint8)  # imdecode: non-ASCII paths work
            data = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if encoded.size else None
            if data is None:
                raise MediaError(f"depth map {path}: cannot be decoded as an image (corrupt or not a PNG)")
            if data.ndim == 3:
                data = data[:, :, 2 if data.shape[2] >= 3 else 0]  # OpenCV is BGR(A): the file's first channel is R
    except MediaError:
        raise
    except FileNotFoundError as err:
        raise MediaError(f"depth map {path}: file not found") from err
    except (OSError, ValueError, EOFError) as err:
        raise MediaError(f"depth map {path}: unreadable ({short_reason(err)})") from err

    if data.ndim == 3 and data.shape[2] <= 4:
        data = data[:, :, 0]
    if data.ndim != 2 or data.size == 0:
        raise MediaError(f"depth map {path}: expected a 2-D map (HxW or HxWxC), got shape {data.shape}")
    if data.dtype == np.uint16:
        disparity = data.astype(np.float32) / 65535.0
    elif data.dtype == np.uint8:
        disparity = data.astype(np.float32) / 255.0
    elif np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer):
        disparity = data.astype(np.float32)
        if not np.isfinite(disparity).all():
            raise MediaError(f"depth map {path}: contains NaN or infinite values")
        low, high = float(disparity.min()), float(disparity.max())
        if low < 0.0 or high > 1.0:  # raw disparity from elsewhere: bring it into [0, 1]
            disparity = (disparity - low) / (high - low) if high > low else np.zeros_like(disparity)
    else:
        raise MediaError(f"depth map {path}: unsupported sample type {data.dtype}")
    return np.ascontiguousarray(disparity, dtype=np.float32)


def supplied_disparity(path: Path, image: np.ndarray) -> np.ndarray:
    """A depth file supplied for ``image`` as the renderer's disparity: read
    (`read_depth_file`), clipped to [0, 1] but not rescaled (it already is disparity), and
    brought to the picture's size by `prepare_disparity`, so a smaller map's edges are
    snapped to the picture's (guided upsampling) rather than blurred by a plain resize.
    The `depth_map` asset and the ``parallax render --depth-map`` command both use it."""
    return prepare_disparity(read_depth_file(path), image, normalize=False)


def write_depth_png(path: Path, disparity: np.ndarray) -> None:
    """Write disparity in [0, 1] as a 16-bit grayscale PNG (round(d*65535)), atomically
    (`files.write_atomic`), so readers never see half a file."""
    path = Path(path)
    data = np.asarray(disparity, dtype=np.float64)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"disparity must be a non-empty 2-D array, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError(f"disparity for {path} contains NaN or infinite values")
    pixels = np.round(np.clip(data, 0.0, 1.0) * 65535.0).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise OSError(f"could not encode depth map {path} as PNG")
    write_atomic(path, encoded.tobytes())


def depth_preview(disparity: np.ndarray, max_width: int = 320) -> np.ndarray:
    """uint8 RGB colour-mapped preview (INFERNO: near = bright), at most max_width wide."""
    data = np.nan_to_num(np.asarray(disparity, dtype=np.float32), nan=0.0)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"disparity must be a non-empty 2-D array, got shape {data.shape}")
    height, width = data.shape
    if width > max_width:  # shrink before colour-mapping: cheaper, and INTER_AREA on values is cleaner
        new_height = max(1, round(height * max_width / width))
        data = cv2.resize(data, (max_width, new_height), interpolation=cv2.INTER_AREA)
    levels = np.round(np.clip(data, 0.0, 1.0) * 255.0).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
