"""Depth: Depth Anything V2 (through transformers) and depth-map files.

Every depth map in the engine is *disparity* (relative inverse depth) as float32 HxW in
[0, 1], where 1 is the nearest surface. Model output, files on disk and previews all use
that one convention.

torch and transformers are imported inside the functions that need them, so importing
this module (and the engine) stays cheap.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from parallax_pipeline.engine.errors import MediaError

DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
INPUT_SIDE = 518  # Depth Anything V2 is trained at 518 px; sides must be multiples of the patch (14).
PATCH = 14
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- devices


def select_device(preference: str = "auto") -> str:
    """Resolve a device name: "auto" picks cuda, then mps, then cpu; explicit names are checked.

    "cuda:N" is accepted too. Raises ValueError for an unknown name or a device that is not
    available on this machine.
    """
    import torch

    pref = (preference or "auto").strip().lower()
    has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if pref == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if has_mps else "cpu"
    if pref == "cpu":
        return "cpu"
    if pref == "mps":
        if not has_mps:
            raise ValueError("device 'mps' was requested but Apple MPS is not available here; use 'auto' or 'cpu'")
        return "mps"
    if pref == "cuda" or pref.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {preference!r} was requested but CUDA is not available here; use 'auto' or 'cpu'")
        if pref != "cuda":
            index = pref.partition(":")[2]
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise ValueError(
                    f"device {preference!r} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)"
                )
        return pref
    raise ValueError(f"unknown device {preference!r}; use 'auto', 'cuda', 'cuda:N', 'mps' or 'cpu'")


# --------------------------------------------------------------------------- model loading


class DepthModelUnavailable(RuntimeError):
    """The depth model cannot be loaded; the message says which, where, why and the ways out."""

    def __init__(self, model: str, device: str, reason: str):
        self.model, self.device, self.reason = model, device, reason
        super().__init__(
            f"Depth model {model!r} could not be loaded on {device}: {reason}\n"
            "Ways out:\n"
            "  1. Point the model setting at a local folder holding a saved model "
            "(model.save_pretrained(folder), ideally with the image processor saved there too).\n"
            "  2. Pre-download it into the Hugging Face cache on a machine with network "
            f"(e.g. `hf download {model if _is_hub_id(model) else '<hub id>'}`), "
            "bring the cache along and run with HF_HUB_OFFLINE=1.\n"
            "  3. Supply a depth map for the scene instead: depth/<scene>.png in the project, "
            "or `depth:` for the scene in project.yaml."
        )

    def __reduce__(self):  # keep it picklable for multiprocess executors (args != __init__ args)
        return (type(self), (self.model, self.device, self.reason))


def _short(err: BaseException, limit: int = 300) -> str:
    """One line naming the error, for messages: the first line of it, cut to `limit`."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_hub_id(model: str) -> bool:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model)
    except Exception:  # noqa: BLE001 - HFValidationError; any failure means "not a hub id"
        return False
    return True


def _in_hub_cache(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model_id, "config.json"), str)


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else path-shaped is meant as a folder.
    return os.path.isabs(model) or model.startswith((".", "~")) or model.count("/") > 1 or "\\" in model


def _probe_hub(model_id: str) -> None:
    """One HEAD request for config.json, without retries: raises fast where there is no network.

    huggingface_hub retries network errors with backoff (about 23 s in all) once the cache
    misses; this single request fails in well under a second with no DNS, and within
    HF_HUB_ETAG_TIMEOUT (default 10 s) where packets are dropped. It also raises at once
    (OfflineModeIsEnabled) under HF_HUB_OFFLINE=1.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    get_hf_file_metadata(hf_hub_url(model_id, "config.json"), timeout=constants.HF_HUB_ETAG_TIMEOUT)


def _from_pretrained(source: str, device: str, local_only: bool):
    """Load model (and, if present, image processor) from a folder or hub id; model errors raise."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    model = AutoModelForDepthEstimation.from_pretrained(source, local_files_only=local_only, dtype=dtype)
    try:
        processor = AutoImageProcessor.from_pretrained(source, local_files_only=local_only)
    except Exception:  # noqa: BLE001 - a folder may hold only the model; preprocess by hand then
        processor = None
    return model, processor


_load_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def _load_cached(model: str, device: str) -> DepthEstimator:
    folder = Path(model).expanduser()
    if folder.is_dir():
        try:
            net, processor = _from_pretrained(str(folder), device, local_only=True)
        except Exception as err:
            reason = f"folder {str(folder)!r} holds no loadable model ({_short(err)})"
            raise DepthModelUnavailable(model, device, reason) from err
    elif _looks_like_path(model):
        raise DepthModelUnavailable(model, device, f"no such folder {str(folder)!r}")
    elif not _is_hub_id(model):
        raise DepthModelUnavailable(model, device, "it is neither an existing folder nor a valid Hugging Face model id")
    else:
        try:  # the local Hugging Face cache first: no network needed, nothing fetched
            net, processor = _from_pretrained(model, device, local_only=True)
        except Exception as cache_err:
            cached = _in_hub_cache(model)
            try:
                _probe_hub(model)
                net, processor = _from_pretrained(model, device, local_only=False)
            except Exception as err:
                where = (
                    f"its copy in the local Hugging Face cache does not load ({_short(cache_err, 160)})"
                    if cached
                    else "it is not in the local Hugging Face cache (nor a local folder)"
                )
                reason = f"{where}, and fetching it from the Hub failed ({_short(err)})"
                raise DepthModelUnavailable(model, device, reason) from err
    return DepthEstimator(net, processor, model_id=model, device=device)


def load_depth_model(model: str = DEFAULT_MODEL, device: str = "auto") -> DepthEstimator:
    """Load a Depth Anything model once per process per (model, resolved device).

    `model` is a hub id or a local folder (as written by save_pretrained). A hub id is taken
    from the local Hugging Face cache when it is there, and only otherwise from the Hub.
    Any failure raises DepthModelUnavailable (chained to the original error), quickly.
    """
    resolved = select_device(device)
    key = str(Path(model).expanduser().resolve()) if Path(model).expanduser().is_dir() else model
    with _load_lock:  # one load per key even when assets run in threads
        return _load_cached(key, resolved)


# --------------------------------------------------------------------------- inference


def _target_size(height: int, width: int, side: int = INPUT_SIDE, multiple: int = PATCH) -> tuple[int, int]:
    """Model input size for an image, as DPTImageProcessor computes it with keep_aspect_ratio:
    scale as little as possible so one side lands on `side`, sides rounded to `multiple`."""
    scale_h, scale_w = side / height, side / width
    scale = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
    return tuple(max(multiple, round(side_px * scale / multiple) * multiple) for side_px in (height, width))


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"images must be uint8 numpy arrays, got {type(image).__name__} {getattr(image, 'dtype', '')}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[:, :, :3])
    raise ValueError(f"images must be HxWx3 RGB, got shape {image.shape}")


class DepthEstimator:
    """A loaded depth model: predict(images) -> disparity maps in [0, 1] (1 = nearest)."""

    def __init__(self, model: Any, processor: Any | None, model_id: str, device: str, batch_size: int = 4):
        import torch

        self.model_id = model_id
        self.device = device
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.processor = processor  # None: preprocess by hand (518-based, ImageNet mean/std)
        self.batch_size = batch_size  # bounds GPU memory with the Large model at full resolution

    def __repr__(self) -> str:
        return f"DepthEstimator({self.model_id!r}, device={self.device!r})"

    def _pixel_values(self, batch: list[np.ndarray]):
        import torch

        if self.processor is not None:
            pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
            return pixels.to(self.device, self.dtype)
        # By hand, like the DPT processor: resize (area when shrinking, to avoid aliasing;
        # bicubic when enlarging) to the 518-based size, scale to [0,1], ImageNet-normalise.
        height, width = batch[0].shape[:2]
        target_h, target_w = _target_size(height, width)
        shrink = target_h * target_w < height * width
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        resized = np.stack([cv2.resize(image, (target_w, target_h), interpolation=interpolation) for image in batch])
        pixels = torch.from_numpy(resized).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        return ((pixels - mean) / std).to(self.dtype)

    def predict(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Disparity for each uint8 RGB image, float32 HxW at the image's own size, in [0, 1].

        Images of the same size are batched together (batch_size at a time). Each
        prediction, at the model's resolution, is normalised robustly and brought to the
        image's size by `guided_upsample`, so depth edges follow the picture's edges.
        """
        return [prepare_disparity(raw, image) for raw, image in zip(self.predict_raw(images), images)]

    def predict_raw(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The model's own output per image: float32 relative disparity (larger = nearer,
        arbitrary scale) at the model's input resolution (518 px on one side)."""
        import torch

        rgb = [_as_rgb(image) for image in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(rgb):
            groups.setdefault(image.shape[:2], []).append(index)

        results: list[np.ndarray | None] = [None] * len(rgb)
        with torch.inference_mode():
            for indices in groups.values():
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    predicted = self.model(pixel_values=self._pixel_values([rgb[i] for i in chunk])).predicted_depth
                    for i, raw in zip(chunk, predicted.float().cpu().numpy()):
                        results[i] = raw
        return results  # type: ignore[return-value]


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
    rgb = _as_rgb(np.asarray(image))
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


def _resize(disparity: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None:
        return disparity
    width, height = (int(v) for v in size)
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be (width, height) > 0, got {size}")
    if disparity.shape == (height, width):
        return disparity
    return cv2.resize(disparity, (width, height), interpolation=cv2.INTER_LINEAR)


def read_depth_file(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a depth map as disparity float32 HxW in [0, 1], 1 = nearest.

    16-bit PNG (value/65535) or 8-bit PNG (/255), grayscale or the first channel; or .npy:
    floats already in [0, 1] are taken as they are, other floats are scaled min..max to
    [0, 1]. With size=(width, height) the map is resized (linear) to it. Problems raise
    MediaError naming the file.
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
        raise MediaError(f"depth map {path}: unreadable ({_short(err)})") from err

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
    return np.ascontiguousarray(_resize(disparity, size), dtype=np.float32)


def write_depth_png(path: Path, disparity: np.ndarray) -> None:
    """Write disparity in [0, 1] as a 16-bit grayscale PNG (round(d*65535)), atomically:
    a temp file in the same folder is renamed over the target, so readers never see half a file."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded.tobytes())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
