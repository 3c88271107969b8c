"""Depth Anything V2 through transformers: devices, loading, batched inference.

Predictions leave here as disparity in [0, 1] (1 = nearest), brought to the picture's
size by `maps.prepare_disparity`, the convention of every depth map in the engine.

torch and transformers are imported inside the functions that need them, so importing
this module (and the engine) stays cheap.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from parallax_pipeline.engine.depth.maps import as_rgb, prepare_disparity
from parallax_pipeline.engine.errors import short_reason

DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
"""The model used when none is named: Small, the one under Apache-2.0 (Base and Large are
CC-BY-NC-4.0). Every default in the project (definitions, resource, CLI) is this one."""
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


PROJECT_WAYS_OUT = (
    "Point the model setting (PARALLAX_DEPTH_MODEL, or the depth_model resource's `model`) at a local folder "
    "holding a saved model (model.save_pretrained(folder), ideally with the image processor saved there too).",
    "Supply a depth map for the scene instead: depth/<scene>.png in the project, or `depth:` for the scene "
    "in project.yaml.",
)
"""How a project gets past a missing model, in its own terms (the pipeline's settings)."""
COMMAND_WAYS_OUT = (
    "Give `--model` a local folder holding a saved model (model.save_pretrained(folder)).",
    "Give `--depth-map FILE` (a 16-bit PNG or .npy disparity map, 1 = nearest) and no model is needed.",
)
"""The same for `parallax render`, in its options' terms."""


class DepthModelUnavailable(RuntimeError):
    """The depth model cannot be loaded; the message says which, where, why and the ways
    out, in the terms of whoever asked (``ways_out``: a project or the render command)."""

    def __init__(self, model: str, device: str, reason: str, ways_out: tuple[str, ...] = PROJECT_WAYS_OUT):
        self.model, self.device, self.reason, self.ways_out = model, device, reason, tuple(ways_out)
        steps = [
            *self.ways_out[:1],
            "Pre-download it into the Hugging Face cache on a machine with network "
            f"(e.g. `hf download {model if _is_hub_id(model) else '<hub id>'}`), "
            "bring the cache along and run with HF_HUB_OFFLINE=1.",
            *self.ways_out[1:],
        ]
        super().__init__(
            f"Depth model {model!r} could not be loaded on {device}: {reason}\nWays out:\n"
            + "\n".join(f"  {number}. {step}" for number, step in enumerate(steps, 1))
        )

    def for_command(self, ways_out: tuple[str, ...]) -> DepthModelUnavailable:
        """The same failure with the ways out another caller offers."""
        return DepthModelUnavailable(self.model, self.device, self.reason, ways_out)

    def __reduce__(self):  # keep it picklable for multiprocess executors (args != __init__ args)
        return (type(self), (self.model, self.device, self.reason, self.ways_out))


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
            reason = f"folder {str(folder)!r} holds no loadable model ({short_reason(err)})"
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
                    f"its copy in the local Hugging Face cache does not load ({short_reason(cache_err, 160)})"
                    if cached
                    else "it is not in the local Hugging Face cache (nor a local folder)"
                )
                reason = f"{where}, and fetching it from the Hub failed ({short_reason(err)})"
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

        rgb = [as_rgb(image) for image in images]
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
