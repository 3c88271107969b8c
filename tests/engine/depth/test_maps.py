from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parallax_pipeline.engine.depth.maps import (
    depth_preview,
    guided_upsample,
    normalize_disparity,
    prepare_disparity,
    read_depth_file,
    supplied_disparity,
    write_depth_png,
)
from parallax_pipeline.engine.errors import MediaError


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


def test_depth_png_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    disparity = rng.random((48, 64), dtype=np.float32)
    path = tmp_path / "depth" / "scene.png"
    write_depth_png(path, disparity)
    assert [p.name for p in path.parent.iterdir()] == ["scene.png"]  # no temp file left

    back = read_depth_file(path)
    assert back.dtype == np.float32 and back.shape == (48, 64)
    assert np.abs(back - disparity).max() <= 1 / 65535



def test_supplied_map_is_fitted_to_its_picture_with_its_edges_on_the_pictures(tmp_path: Path) -> None:
    """A supplied depth file at half the picture's size: values kept (not rescaled), and
    the depth step lands on the picture's colour step, not along a resize ramp."""
    image = np.zeros((96, 128, 3), np.uint8)
    image[:, 61:] = 255  # a colour edge between columns 60 and 61 of the picture
    small = np.full((48, 64), 0.2, np.float32)
    small[:, 31:] = 0.7  # the same edge at half size falls between 30.5 and 31 of the picture's half
    path = tmp_path / "scene.png"
    write_depth_png(path, small)
    disparity = supplied_disparity(path, image)
    assert disparity.shape == (96, 128) and disparity.dtype == np.float32
    assert disparity.min() >= 0.1 and disparity.max() == pytest.approx(0.7, abs=0.01)  # kept, not stretched to [0, 1]
    assert np.all(disparity[:, :61] < 0.3) and np.all(disparity[:, 61:] > 0.6)  # a clean step at the picture's edge
    plain = cv2.resize(small, (128, 96), interpolation=cv2.INTER_LINEAR)
    assert np.any((plain[:, 55:66] > 0.3) & (plain[:, 55:66] < 0.6))  # what a plain resize leaves: a ramp


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


def test_guided_upsampling_puts_depth_edges_on_the_image_edges() -> None:

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


def test_prepare_disparity_normalises_robustly():
    rng = np.random.default_rng(0)
    raw = rng.normal(5.0, 2.0, (100, 150)).astype(np.float32)
    raw[0, 0] = 1e6  # an outlier must not squash the rest
    raw[1, 1] = np.nan
    out = prepare_disparity(raw, np.zeros((100, 150, 3), np.uint8))
    assert out.dtype == np.float32 and out.shape == (100, 150)
    assert out.min() == 0.0 and out.max() == 1.0 and np.isfinite(out).all()
    assert 0.4 < float(np.median(out)) < 0.6
    assert (out == 1.0).mean() == pytest.approx(0.01, abs=0.005)  # the top 1 % clip
    order = np.argsort(raw[2:].ravel())
    assert np.all(np.diff(out[2:].ravel()[order]) >= 0)  # monotonic: nearer stays nearer


def test_prepare_disparity_resizes_to_the_image_and_handles_flat_maps():
    out = prepare_disparity(np.linspace(0, 1, 50 * 80, dtype=np.float32).reshape(50, 80), np.zeros((100, 160, 3), np.uint8))
    assert out.shape == (100, 160) and out[0, 0] == 0.0 and out[-1, -1] == 1.0
    flat = prepare_disparity(np.full((10, 10), 3.0), np.zeros((10, 10, 3), np.uint8))
    assert np.all(flat == 0.5)
