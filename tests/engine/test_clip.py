"""One clip end to end: rendering overlapped with encoding into a finished MP4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parallax_pipeline.engine import clip, encode
from parallax_pipeline.engine.camera import Motion


def scene(h=90, w=160):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.dstack([80 + xx // 2, 60 + yy, np.full((h, w), 120)]).astype(np.uint8)
    disp = np.full((h, w), 0.2, np.float32)
    disp[30:60, 60:100] = 1.0
    return img, disp


def test_render_clip_writes_every_frame_at_the_right_size(tmp_path: Path):
    img, disp = scene()
    settings = encode.VideoSettings(128, 72, 24, preset="ultrafast")
    seen = []
    report = clip.render_clip(
        img, disp, Motion(preset="circle"), 13, settings, tmp_path / "clip.mp4", on_progress=lambda d, t: seen.append((d, t))
    )
    info = encode.probe(tmp_path / "clip.mp4")
    assert (info.width, info.height, info.frames) == (128, 72, 13) and report.frames == 13
    assert info.fps == pytest.approx(24)
    assert seen == [(i, 13) for i in range(1, 14)]
    assert report.poster is not None and report.poster.shape == (72, 128, 3)
    assert report.layers == 2 and report.prepare_seconds <= report.total_seconds


def test_a_failing_renderer_leaves_no_file(tmp_path: Path):
    def frames():
        yield np.zeros((72, 128, 3), np.uint8)
        raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        clip.encode_ahead(frames(), tmp_path / "clip.mp4", encode.VideoSettings(128, 72, 24, preset="ultrafast"))
    assert list(tmp_path.iterdir()) == []  # no clip, no temp file
