"""One clip end to end: rendering overlapped with encoding into a finished MP4."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from parallax_pipeline.engine.parallax import clip
from parallax_pipeline.engine.parallax import renderer as parallax
from parallax_pipeline.engine.parallax.camera import Motion
from parallax_pipeline.engine.video.codec import VideoSettings, probe
from parallax_pipeline.engine.video.concat import audit_decode
from parallax_pipeline.engine.video.lossless import read_lossless
from parallax_pipeline.engine.video.parts import SceneParts


def scene(h=90, w=160):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.dstack([80 + xx // 2, 60 + yy, np.full((h, w), 120)]).astype(np.uint8)
    disp = np.full((h, w), 0.2, np.float32)
    disp[30:60, 60:100] = 1.0
    return img, disp


def test_render_clip_writes_every_frame_at_the_right_size(tmp_path: Path):
    img, disp = scene()
    settings = VideoSettings(128, 72, 24, preset="ultrafast")
    seen = []
    report = clip.render_clip(
        img, disp, Motion(preset="circle"), 13, settings, tmp_path / "clip.mp4", on_progress=lambda d, t: seen.append((d, t))
    )
    info = probe(tmp_path / "clip.mp4")
    assert (info.width, info.height, info.frames) == (128, 72, 13) and report.frames == 13
    assert info.fps == pytest.approx(24)
    assert seen == [(i, 13) for i in range(1, 14)]
    assert report.poster is not None and report.poster.shape == (72, 128, 3)
    assert report.layers == 2 and report.prepare_seconds <= report.total_seconds


def test_render_scene_encodes_only_the_frames_shown_alone_and_keeps_the_shared_ones_exact(tmp_path: Path):
    img, disp = scene()
    settings = VideoSettings(128, 72, 24, preset="ultrafast")
    motion = Motion(preset="circle")
    parts = SceneParts.in_folder(tmp_path, 13, 3, 4)
    report = clip.render_scene(img, disp, motion, parts, settings, backend="opencv")
    assert report.frames == 13
    rendered = parallax.render_frames(img, disp, motion, 13, (128, 72), backend="opencv")
    expected = [rendered.frame(i) for i in range(13)]
    assert np.array_equal(read_lossless(parts.head, 128, 72), np.stack(expected[:3]))
    assert np.array_equal(read_lossless(parts.tail, 128, 72), np.stack(expected[9:]))
    audit = audit_decode(parts.solo)
    assert audit.clean and audit.frames == 6 and audit.keyframes[0] == 0
    assert np.array_equal(report.poster, expected[6])


def test_a_failing_renderer_leaves_no_file(tmp_path: Path):
    def make(index: int) -> np.ndarray:
        if index == 3:
            raise RuntimeError("renderer broke")
        return np.zeros((72, 128, 3), np.uint8)

    with pytest.raises(RuntimeError, match="renderer broke"):
        clip.encode_ahead(make, 8, tmp_path / "clip.mp4", VideoSettings(128, 72, 24, preset="ultrafast"), workers=2)
    assert list(tmp_path.iterdir()) == []  # no clip, no temp file


def test_frames_made_by_several_workers_come_out_in_order():
    made = []

    def make(index: int) -> np.ndarray:
        time.sleep(0.02 * ((7 * index) % 5))  # later frames often finish first
        made.append(index)
        return np.full((2, 2, 3), index, np.uint8)

    frames = list(clip.render_ahead(make, 20, workers=3))
    assert [int(f[0, 0, 0]) for f in frames] == list(range(20))
    assert sorted(made) == list(range(20)) and made != list(range(20))


def test_a_consumer_that_stops_early_leaves_later_frames_unmade():
    made = []

    def make(index: int) -> np.ndarray:
        made.append(index)
        return np.zeros((2, 2, 3), np.uint8)

    stream = clip.render_ahead(make, 100, workers=2)
    next(stream)
    stream.close()
    assert len(made) <= 1 + 2 * clip.AHEAD_PER_WORKER


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux")
def test_render_threads_run_below_the_encoders_priority():
    def make(index: int) -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert set(clip.render_ahead(make, 6, workers=2)) == {min(19, mine + clip.RENDER_NICENESS)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller keeps its own


def test_multithreaded_frames_match_single_threaded_ones():
    img, disp = scene(180, 320)
    frames = parallax.render_frames(img, disp, Motion(preset="circle", amount=0.15), 12, (320, 180), backend="opencv")
    serial = [frames.frame(i) for i in range(12)]
    assert all(np.array_equal(a, b) for a, b in zip(serial, clip.render_ahead(frames.frame, 12, workers=3)))
