"""Depth engine: the real transformers code path on a tiny random Depth Anything model,
fast failure without a model, device choice, normalisation and depth-map files."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from parallax_pipeline.engine.depth import (
    DepthEstimator,
    DepthModelUnavailable,
    _target_size,
    depth_preview,
    load_depth_model,
    normalize_disparity,
    read_depth_file,
    select_device,
    write_depth_png,
)
from parallax_pipeline.engine.errors import MediaError
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


def test_normalize_disparity_ignores_a_single_outlier() -> None:
    raw = np.tile(np.linspace(0.0, 10.0, 200, dtype=np.float32), (100, 1))
    raw[5, 5] = 1e6
    out = normalize_disparity(raw)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    # Without the outlier the ramp spans the range; min/max scaling would squash it near 0.
    assert np.percentile(out, 95) > 0.9 and np.percentile(out, 5) < 0.1

    assert not normalize_disparity(np.full((4, 5), 3.0)).any()
    with_nan = normalize_disparity(np.array([[np.nan, 1.0], [2.0, 3.0]]))
    assert np.isfinite(with_nan).all()


def test_depth_png_round_trip_and_resize(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    disparity = rng.random((48, 64), dtype=np.float32)
    path = tmp_path / "depth" / "scene.png"
    write_depth_png(path, disparity)
    assert [p.name for p in path.parent.iterdir()] == ["scene.png"]  # no temp file left

    back = read_depth_file(path)
    assert back.dtype == np.float32 and back.shape == (48, 64)
    assert np.abs(back - disparity).max() <= 1 / 65535

    resized = read_depth_file(path, size=(32, 24))
    assert resized.shape == (24, 32) and resized.dtype == np.float32


def test_read_8bit_png_and_npy(tmp_path: Path) -> None:
    import cv2

    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    cv2.imwrite(str(tmp_path / "d8.png"), gray)
    assert read_depth_file(tmp_path / "d8.png").max() == pytest.approx(1.0)

    np.save(tmp_path / "d.npy", np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4))
    assert read_depth_file(tmp_path / "d.npy").shape == (3, 4)

    bad = np.ones((3, 4), dtype=np.float32)
    bad[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(MediaError, match="NaN"):
        read_depth_file(tmp_path / "nan.npy")

    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4, 5), dtype=np.float32))
    with pytest.raises(MediaError, match="2-D"):
        read_depth_file(tmp_path / "cube.npy")


def test_bad_depth_files_raise_media_error_naming_them(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(np.random.default_rng(2).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match="corrupt") as caught:
        read_depth_file(corrupt)
    assert str(corrupt) in str(caught.value)

    missing = tmp_path / "missing.png"
    with pytest.raises(MediaError, match="not found") as caught:
        read_depth_file(missing)
    assert str(missing) in str(caught.value)


def test_depth_preview() -> None:
    disparity = np.tile(np.linspace(0.0, 1.0, 640, dtype=np.float32), (480, 1))
    preview = depth_preview(disparity)
    assert preview.shape == (240, 320, 3) and preview.dtype == np.uint8
    assert preview[:, -1].sum() > preview[:, 0].sum()  # near (1) is bright
    assert depth_preview(disparity[:10, :100]).shape == (10, 100, 3)  # never upscaled


# --------------------------------------------------------------------------- depth preparation


def test_guided_upsampling_puts_depth_edges_on_the_image_edges() -> None:
    from parallax_pipeline.engine.depth import guided_upsample

    h, w = 180, 320
    image = np.full((h, w, 3), (60, 120, 200), np.uint8)
    image[:, 137:] = (220, 90, 40)  # a colour edge at column 137
    small = np.zeros((45, 80), np.float32)
    small[:, 34:] = 1.0  # the model's edge at 4x lower resolution, near column 136..139
    small = cv2.GaussianBlur(small, (0, 0), 1.5)  # and soft, as network output is
    guided = guided_upsample(small, image)
    plain = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    assert guided.shape == (h, w) and guided.dtype == np.float32

    def steepest(d: np.ndarray) -> tuple[int, float]:
        steps = np.diff(d[h // 2])
        return int(np.argmax(steps)) + 1, float(steps.max())

    column, jump = steepest(guided)
    assert column == 137 and jump > 0.6  # one step, exactly at the colour edge
    assert steepest(plain)[1] < 0.2  # where plain upsampling leaves a ramp several pixels wide
    row = guided[h // 2]
    assert row[:120].max() < 0.15 and row[150:].min() > 0.85


def test_prepare_disparity_is_robust_and_can_keep_values() -> None:
    from parallax_pipeline.engine.depth import prepare_disparity

    image = np.zeros((60, 80, 3), np.uint8)
    raw = np.linspace(3.0, 5.0, 60 * 80, dtype=np.float32).reshape(60, 80)
    raw[0, 0] = 1e9  # one outlier does not flatten the scene
    out = prepare_disparity(raw, image)
    assert out.min() == 0.0 and out.max() == 1.0 and 0.45 < float(np.median(out)) < 0.55
    supplied = np.full((30, 40), 0.25, np.float32)
    supplied[:, 20:] = 0.75
    kept = prepare_disparity(supplied, image, normalize=False)  # a supplied map keeps its values
    assert kept.shape == (60, 80) and kept.min() == pytest.approx(0.25, abs=0.02)
    assert kept.max() == pytest.approx(0.75, abs=0.02)
    assert np.all(prepare_disparity(np.ones((10, 10)), image) == 0.5)  # flat: one plane
