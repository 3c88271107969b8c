"""The torch (GPU) frame path agrees with the OpenCV one: on CPU torch everywhere, and on
CUDA too where torch sees a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine.parallax import renderer as parallax
from parallax_pipeline.engine.parallax.camera import Motion

torch = pytest.importorskip("torch")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def scene(h=144, w=256):
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.5 * np.dstack([np.sin(xx / 6.0), np.cos(yy / 4.0), np.sin((xx + yy) / 9.0)])
    img = (40 + 180 * (0.7 * base + 0.3 * rng.random((h, w, 3)))).astype(np.uint8)
    disp = (0.15 + 0.35 * yy / h).astype(np.float32)  # a receding ground
    disp[((xx - 128) ** 2 + (yy - 60) ** 2) < 28**2] = 1.0  # a near disc
    disp[:, 40:44] = 0.8  # a pole
    return img, disp


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset", ["circle", "dolly_zoom", "dolly_in", "pan_up"])
def test_torch_frames_match_opencv_frames(preset, device):
    from parallax_pipeline.engine.parallax.warp_torch import TorchClipRenderer

    img, disp = scene()
    clip = parallax.render_frames(img, disp, Motion(preset=preset, amount=0.12), 5, (256, 144), backend="opencv")
    on_torch = TorchClipRenderer(clip.renderer.scene, clip.renderer.geometry, device=device)
    for pose in clip.poses[::2]:
        cpu, gpu_path = clip.renderer.render(pose), on_torch.render(pose)
        assert gpu_path.shape == cpu.shape and gpu_path.dtype == np.uint8
        diff = np.abs(cpu.astype(int) - gpu_path)
        assert diff.mean() < 0.2 and diff.max() <= 4  # rounding of fixed-point vs float sampling


def test_torch_backend_is_selectable():
    img, disp = scene()
    frames = list(parallax.render_frames(img, disp, Motion(preset="swing"), 2, (128, 72), backend="torch"))
    assert [f.shape for f in frames] == [(72, 128, 3)] * 2
