"""concat: tests."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine.compose.programme import compose
from parallax_pipeline.engine.compose.transitions import Transition
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.video.codec import VideoSettings, encode_frames, probe, read_frames
from parallax_pipeline.engine.video.parts import SceneParts
from tests.video_frames import SMALL, gradient, leftovers, solid


def test_concat_hard_cuts(tmp_path):
    colours = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]
    counts = [10, 15, 20]
    clips = []
    for k, (rgb, n) in enumerate(zip(colours, counts)):
        clips.append(tmp_path / f"c{k}.mp4")
        encode_frames(solid(rgb, n), clips[-1], SMALL)
    out = tmp_path / "all.mp4"
    progress = []
    cuts = [Transition()] * (len(clips) - 1)
    scenes = [SceneParts.whole(clip, n) for clip, n in zip(clips, counts)]
    assert compose(scenes, cuts, out, SMALL, on_progress=progress.append).frames == 45
    assert progress == [10, 25, 45]
    info = probe(out)
    assert info.frames == 45 and info.duration == pytest.approx(45 / 24)

    frames = list(read_frames(out))
    owner = [int(np.argmax(f.reshape(-1, 3).mean(axis=0))) for f in frames]
    assert owner == [0] * 10 + [1] * 15 + [2] * 20  # joins at frames 10 and 25 exactly


def test_concat_rejects_clip_of_another_size(tmp_path):
    good, odd = tmp_path / "good.mp4", tmp_path / "odd.mp4"
    encode_frames(solid((0, 0, 0), 3), good, SMALL)
    encode_frames(solid((0, 0, 0), 3, w=160, h=90), odd, VideoSettings(160, 90, 24))
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match=r"odd\.mp4.*160x90"):
        compose([SceneParts.whole(good, 3), SceneParts.whole(odd, 3)], [Transition()], out, SMALL)
    assert not out.exists() and leftovers(tmp_path) == []


def test_concat_videos_joins_segments_frame_exactly(tmp_path):
    from parallax_pipeline.engine.video.concat import audit_decode, concat_videos

    # Lengths 1 and 2 have no B-frames (no reordering delay), longer ones do: the joins
    # between the two kinds are where decode timestamps would go backwards if copied as is.
    lengths = [1, 37, 2, 5, 1, 20]
    segments, expected, start = [], [], 0
    for k, n in enumerate(lengths):
        frames = [gradient(start + i) for i in range(n)]
        segments.append(tmp_path / f"seg{k}.mp4")
        encode_frames(frames, segments[-1], SMALL)
        expected += list(read_frames(segments[-1]))
        start += n
    out = tmp_path / "joined.mp4"
    assert concat_videos(segments, out, SMALL.fps) == sum(lengths)

    audit = audit_decode(out)
    assert audit.clean, audit
    assert audit.frames == sum(lengths)
    assert set(np.cumsum([0] + lengths[:-1])) <= set(audit.keyframes)  # each segment opens on an IDR
    got = list(read_frames(out))
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))  # copied, not re-encoded
    assert probe(out).duration == pytest.approx(sum(lengths) / 24)
    assert leftovers(tmp_path) == []


def test_concat_videos_refuses_segments_of_other_settings(tmp_path):
    from parallax_pipeline.engine.video.concat import concat_videos

    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    encode_frames(solid((10, 10, 10), 3), a, SMALL)
    encode_frames(solid((10, 10, 10), 3, w=160, h=90), b, VideoSettings(160, 90, 24))
    with pytest.raises(MediaError, match=r"b\.mp4: encoded with other codec parameters.*160x90"):
        concat_videos([a, b], tmp_path / "out.mp4", 24)
    assert not (tmp_path / "out.mp4").exists()


def test_audit_decode_reports_damage(tmp_path):
    from parallax_pipeline.engine.video.concat import audit_decode

    video = tmp_path / "v.mp4"
    encode_frames((gradient(i) for i in range(30)), video, SMALL)
    assert audit_decode(video).clean
    data = bytearray(video.read_bytes())
    for i in range(len(data) // 3, len(data) - 2000, 401):  # scribble over the coded frames
        data[i] ^= 0x5A
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    audit = audit_decode(damaged)
    assert not audit.clean and (audit.errors or audit.corrupt_frames)
