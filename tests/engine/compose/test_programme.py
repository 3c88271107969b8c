"""Composition with transitions, in one pass and incrementally from cached segments.

Real encodes and decodes of small synthetic clips (moving gradients, solid colours).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from parallax_pipeline.engine.compose.programme import SegmentCache, compose
from parallax_pipeline.engine.compose.timeline import TimelineError
from parallax_pipeline.engine.compose.transitions import Transition, blend, every_variant, progress
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.video.codec import VideoSettings, encode_frames, read_frames
from parallax_pipeline.engine.video.concat import audit_decode

W, H, FPS = 128, 72, 24
SETTINGS = VideoSettings(W, H, FPS, crf=18)
VARIANTS = [variant for variant in every_variant() if variant.type != "cut"]


def moving_gradient(seed: int, n: int) -> list[np.ndarray]:
    """Smooth frames that differ per clip (seed) and per frame (they drift)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 3)
    frames = []
    for i in range(n):
        channels = [
            127 + 100 * np.sin(2 * np.pi * (x + 2 * i) / (W * (0.8 + 0.3 * c)) + phase[c] + y / (H * (1.5 + c)))
            for c in range(3)
        ]
        frames.append(np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8))
    return frames


def make_clip(folder, name: str, seed: int, n: int):
    path = folder / f"{name}.mp4"
    encode_frames(moving_gradient(seed, n), path, SETTINGS)
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def min_psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b)
    return min(psnr(x, y) for x, y in zip(a, b))


def luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of BT.709 luma. Luma is coded at full resolution; chroma is halved (4:2:0),
    which blurs any hard colour edge (a wipe's, a slide's seam) by a pixel whatever the
    quality, so formula checks compare luma."""
    weights = np.array([0.2126, 0.7152, 0.0722])
    return psnr(a.astype(np.float64) @ weights, b.astype(np.float64) @ weights)


@pytest.mark.parametrize("transition", VARIANTS, ids=lambda t: t.label())
def test_each_transition_type_composes_to_its_formula(tmp_path, transition):
    a_clip, b_clip = make_clip(tmp_path, "a", 1, 20), make_clip(tmp_path, "b", 2, 18)
    out = tmp_path / "out.mp4"
    short = transition.model_copy(update={"duration": 0.25})  # 6 frames at 24 fps
    report = compose([a_clip, b_clip], [short], out, SETTINGS)
    assert report.frames == 20 + 18 - 6

    a, b = list(read_frames(a_clip)), list(read_frames(b_clip))

    def frames_of(t: Transition) -> list[np.ndarray]:
        return [blend(t, a[14 + k], b[k], progress(k, 6)) for k in range(6)]

    got = list(read_frames(out))
    assert len(got) == 32
    # Outside the overlap: the clips themselves, A's first 14 frames then B's from its 7th.
    assert min(psnr(x, y) for x, y in zip(got[:14] + got[20:], a[:14] + b[6:])) > 38
    # In the overlap: the formula applied to the decoded clips, up to encoding loss …
    assert min(luma_psnr(x, y) for x, y in zip(got[14:20], frames_of(short))) > 38
    # … and clearly not any other transition's frames.
    for other in VARIANTS:
        if other != transition:
            assert min(luma_psnr(x, y) for x, y in zip(got[14:20], frames_of(other))) < 32, other.label()


def test_mixed_transitions_length_follows_the_arithmetic(tmp_path):
    counts = [30, 12, 25, 20, 16]
    clips = [make_clip(tmp_path, f"c{i}", i, n) for i, n in enumerate(counts)]
    transitions = [
        Transition(type="dissolve", duration=0.3),  # 7 frames (7.2)
        Transition(),  # cut
        Transition(type="wipe", direction="down", duration=0.5),  # 12
        Transition(type="circle", duration=0.2),  # 5 (4.8)
    ]
    expected = sum(counts) - (7 + 0 + 12 + 5)
    for cache in (None, tmp_path / "segments"):
        out = tmp_path / f"out-{cache is None}.mp4"
        progress_seen = []
        report = compose(clips, transitions, out, SETTINGS, segment_cache=cache, on_progress=progress_seen.append)
        audit = audit_decode(out)
        assert report.frames == audit.frames == expected, cache
        assert audit.clean, audit
        assert progress_seen[-1] == expected and progress_seen == sorted(progress_seen)


@pytest.fixture
def four_scenes(tmp_path):
    clips = [make_clip(tmp_path, f"scene{i}", 10 + i, 24) for i in range(4)]
    transitions = [
        Transition(type="dissolve", duration=0.25),
        Transition(type="wipe", direction="left", duration=0.25),
        Transition(type="circle", duration=0.25),
    ]
    return clips, transitions


def test_incremental_recomposition_reencodes_only_what_changed(tmp_path, four_scenes):
    clips, transitions = four_scenes
    cache = tmp_path / "segments"
    first = compose(clips, transitions, tmp_path / "v1.mp4", SETTINGS, segment_cache=cache)
    assert (first.pieces, first.pieces_encoded, first.frames) == (7, 7, 96 - 18)

    again = compose(clips, transitions, tmp_path / "v1-again.mp4", SETTINGS, segment_cache=cache)
    assert (again.pieces_encoded, again.frames_encoded) == (0, 0)
    assert (tmp_path / "v1-again.mp4").read_bytes() == (tmp_path / "v1.mp4").read_bytes()

    # Scene 2 (index 1) is re-rendered: its solo part and both transitions are re-encoded.
    encode_frames(moving_gradient(99, 24), clips[1], SETTINGS)
    incremental = compose(clips, transitions, tmp_path / "v2.mp4", SETTINGS, segment_cache=cache)
    assert incremental.pieces_encoded == 3
    assert incremental.frames_encoded == 24  # the scene's frames: 6 in + 12 solo + 6 out

    audit = audit_decode(tmp_path / "v2.mp4")
    assert audit.clean, audit
    assert audit.frames == 78
    # Every piece starts on a keyframe: transitions at 18 and 36, solo parts at 24, 42, 60 …
    assert {0, 18, 24, 36, 42, 54, 60} <= set(audit.keyframes)

    # Frame for frame the same as a full composition from scratch (empty cache) …
    full = compose(clips, transitions, tmp_path / "full.mp4", SETTINGS, segment_cache=tmp_path / "fresh")
    assert full.pieces_encoded == 7
    got = list(read_frames(tmp_path / "v2.mp4"))
    assert min_psnr(got, list(read_frames(tmp_path / "full.mp4"))) >= 40
    # … and the same picture as a one-pass encode of the whole programme: two different
    # encodes of it, so compared within encoder tolerance (luma: see luma_psnr).
    compose(clips, transitions, tmp_path / "one-pass.mp4", SETTINGS)
    one_pass = list(read_frames(tmp_path / "one-pass.mp4"))
    assert min(luma_psnr(x, y) for x, y in zip(got, one_pass)) >= 40
    # The unchanged scenes' pieces were copied, not re-encoded: scene 1 still shows.
    assert min_psnr(got[:18], list(read_frames(tmp_path / "v1.mp4"))[:18]) == float("inf")


@pytest.mark.parametrize(("changed", "pieces"), [(0, 2), (3, 2)])
def test_changing_an_end_scene_touches_one_transition(tmp_path, four_scenes, changed, pieces):
    clips, transitions = four_scenes
    cache = tmp_path / "segments"
    compose(clips, transitions, tmp_path / "v1.mp4", SETTINGS, segment_cache=cache)
    encode_frames(moving_gradient(77, 24), clips[changed], SETTINGS)
    report = compose(clips, transitions, tmp_path / "v2.mp4", SETTINGS, segment_cache=cache)
    assert report.pieces_encoded == pieces
    assert audit_decode(tmp_path / "v2.mp4").clean


def test_changing_a_transition_reencodes_only_that_transition(tmp_path, four_scenes):
    clips, transitions = four_scenes
    cache = tmp_path / "segments"
    compose(clips, transitions, tmp_path / "v1.mp4", SETTINGS, segment_cache=cache)
    transitions[1] = Transition(type="push", direction="up", duration=0.25)
    report = compose(clips, transitions, tmp_path / "v2.mp4", SETTINGS, segment_cache=cache)
    assert (report.pieces_encoded, report.frames_encoded) == (1, 6)
    # A longer transition changes the solo parts around it as well.
    transitions[1] = Transition(type="push", direction="up", duration=0.5)
    report = compose(clips, transitions, tmp_path / "v3.mp4", SETTINGS, segment_cache=cache)
    assert report.pieces_encoded == 3 and report.frames == 96 - 6 - 12 - 6


def test_impossible_timeline_names_the_scene_and_writes_nothing(tmp_path):
    clips = [make_clip(tmp_path, "long", 1, 24), make_clip(tmp_path, "short", 2, 5)]
    out = tmp_path / "out.mp4"
    with pytest.raises(TimelineError, match=r"'intro'.*longer than scene 'outro' \(5 frames\)"):
        compose(clips, [Transition(type="dissolve", duration=0.5)], out, SETTINGS, names=["intro", "outro"])
    assert not out.exists()


def test_clip_of_another_size_is_refused(tmp_path):
    good = make_clip(tmp_path, "good", 1, 4)
    odd = tmp_path / "odd.mp4"
    encode_frames([np.zeros((36, 64, 3), np.uint8)] * 4, odd, VideoSettings(64, 36, FPS))
    with pytest.raises(MediaError, match=r"odd\.mp4.*64x36, expected 128x72"):
        compose([good, odd], [Transition(type="dissolve", duration=0.1)], tmp_path / "o.mp4", SETTINGS)


def test_segment_cache_prunes_least_recently_used(tmp_path):
    cache = SegmentCache(tmp_path)
    keys = [f"{i:02d}" + "ab" * 31 for i in range(3)]
    for age, key in enumerate(keys):
        path = cache.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
        os.utime(path, ns=(age * 10**9, age * 10**9))
    assert cache.get(keys[0]) is not None  # used now: the newest
    assert cache.prune(max_bytes=200) == 100
    assert [cache.get(key) is not None for key in keys] == [True, False, True]
