from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from parallax_pipeline.engine.depth.model import (
    DepthEstimator,
    DepthModelUnavailable,
    _target_size,
    load_depth_model,
    select_device,
)
from tests.tiny_models import save_tiny_depth_anything as _save_tiny_model


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, size=(70, 100, 3), dtype=np.uint8),  # 100 wide, 70 high
        rng.integers(0, 256, size=(96, 64, 3), dtype=np.uint8),  # 64 wide, 96 high
        rng.integers(0, 256, size=(70, 100, 3), dtype=np.uint8),  # batched with the first
    ]


def _check_outputs(outputs: list[np.ndarray], images: list[np.ndarray]) -> None:
    assert len(outputs) == len(images)
    for out, image in zip(outputs, images):
        assert out.shape == image.shape[:2]
        assert out.dtype == np.float32
        assert np.isfinite(out).all()
        assert out.min() == 0.0 and out.max() == 1.0  # normalised per image, not flat


@pytest.mark.parametrize("with_processor", [True, False], ids=["processor", "fallback"])
def test_tiny_model_predicts_at_each_images_size(tmp_path: Path, with_processor: bool) -> None:
    folder = _save_tiny_model(tmp_path / "tiny-da", with_processor)
    estimator = load_depth_model(str(folder), "cpu")

    assert isinstance(estimator, DepthEstimator)
    assert estimator.device == "cpu"
    assert (estimator.processor is not None) == with_processor
    assert str(estimator.dtype) == "torch.float32"

    images = _images()
    _check_outputs(estimator.predict(images), images)
    assert estimator.predict([]) == []

    # Loaded once per (model, resolved device): "auto" resolves to cpu here.
    assert load_depth_model(str(folder), "cpu") is estimator
    assert load_depth_model(str(folder), "auto") is estimator


def test_folder_without_a_model_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(DepthModelUnavailable, match="holds no loadable model"):
        load_depth_model(str(tmp_path), "cpu")
    with pytest.raises(DepthModelUnavailable, match="no such folder"):
        load_depth_model(str(tmp_path / "missing" / "model"), "cpu")


def test_bogus_hub_id_fails_fast_with_the_ways_out() -> None:
    # Not in any cache; with no network the Hub is unreachable, with network it answers 404.
    model = "parallax-studio-tests/no-such-depth-model"
    start = time.monotonic()
    with pytest.raises(DepthModelUnavailable) as caught:
        load_depth_model(model, "cpu")
    elapsed = time.monotonic() - start

    message = str(caught.value)
    assert model in message and "cpu" in message
    assert "save_pretrained" in message  # 1. a local folder
    assert f"hf download {model}" in message and "HF_HUB_OFFLINE=1" in message  # 2. the HF cache
    assert "depth/<scene>.png" in message and "depth:" in message  # 3. a depth map
    assert caught.value.__cause__ is not None
    assert elapsed < 20, f"took {elapsed:.1f}s"


def test_unavailable_is_picklable() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(DepthModelUnavailable("m/x", "cpu", "why")))
    assert (err.model, err.device, err.reason) == ("m/x", "cpu", "why")
    assert "m/x" in str(err)


def test_select_device() -> None:
    import torch

    assert select_device("cpu") == "cpu"
    assert select_device(" CPU ") == "cpu"
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert select_device("auto") == "cpu"
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu")


def test_target_size_matches_the_dpt_processor() -> None:
    """The by-hand fallback sizes images exactly as the DA V2 processor configuration does."""
    from transformers import DPTImageProcessor

    processor = DPTImageProcessor(
        size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14, do_pad=False
    )
    assert _target_size(1080, 1920) == (518, 924)  # shorter side to 518, multiples of 14
    for h, w in [(1080, 1920), (1920, 1080), (518, 518), (70, 100), (96, 64), (1000, 750)]:
        pixels = processor(images=[np.zeros((h, w, 3), np.uint8)], return_tensors="pt")["pixel_values"]
        assert tuple(pixels.shape[-2:]) == _target_size(h, w), (h, w)
