"""Composition with transitions from scenes' parts: solo segments stream-copied,
transitions blended from lossless frames and encoded once, incrementally.

Real encodes and decodes of small synthetic scenes (moving gradients, solid colours).
"""

from __future__ import annotations

import os

import av
import numpy as np
import pytest

from parallax_pipeline.engine.compose.programme import SegmentCache, compose
from parallax_pipeline.engine.compose.timeline import TimelineError, pieces, plan
from parallax_pipeline.engine.compose.transitions import Transition, blend, every_variant, progress
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.video.codec import VideoSettings, read_frames
from parallax_pipeline.engine.video.concat import audit_decode
from parallax_pipeline.engine.video.parts import SceneParts, ScenePartsWriter

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


def write_scene(folder, name: str, frames: list[np.ndarray], overlap_in: int, overlap_out: int) -> SceneParts:
    """A scene's parts as `render_scene` writes them, from ``frames``."""
    parts = SceneParts.in_folder(folder / name, len(frames), overlap_in, overlap_out)
    with ScenePartsWriter(parts, SETTINGS) as writer:
        for frame in frames:
            writer.write(frame)
    return parts


def make_scenes(folder, frames: list[list[np.ndarray]], transitions: list[Transition], tag: str = "") -> list[SceneParts]:
    """Every scene split for the overlaps ``transitions`` make (as the clips of a project are)."""
    places = plan([len(f) for f in frames], [t.overlap_frames(FPS) for t in transitions])
    return [
        write_scene(folder, f"scene{i}{tag}", scene, place.overlap_in, place.overlap_out)
        for i, (scene, place) in enumerate(zip(frames, places))
    ]


def packets(path) -> list[bytes]:
    """The video packets of a file, in decode order, as bytes."""
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(video=0) if packet.size]


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
    a, b = moving_gradient(1, 20), moving_gradient(2, 18)
    short = transition.model_copy(update={"duration": 0.25})  # 6 frames at 24 fps
    out = tmp_path / "out.mp4"
    report = compose(make_scenes(tmp_path, [a, b], [short]), [short], out, SETTINGS)
    assert report.frames == 20 + 18 - 6

    def frames_of(t: Transition) -> list[np.ndarray]:
        return [blend(t, a[14 + k], b[k], progress(k, 6)) for k in range(6)]

    got = list(read_frames(out))
    assert len(got) == 32
    # Outside the overlap: the scenes themselves, A's first 14 frames then B's from its 7th,
    # up to one encode's loss.
    assert min(psnr(x, y) for x, y in zip(got[:14] + got[20:], a[:14] + b[6:])) > 38
    # In the overlap: the formula applied to the rendered (never compressed) frames …
    assert min(luma_psnr(x, y) for x, y in zip(got[14:20], frames_of(short))) > 38
    # … and clearly not any other transition's frames.
    for other in VARIANTS:
        if other != transition:
            assert min(luma_psnr(x, y) for x, y in zip(got[14:20], frames_of(other))) < 32, other.label()


def test_mixed_transitions_length_follows_the_arithmetic(tmp_path):
    counts = [30, 12, 25, 20, 16]
    transitions = [
        Transition(type="dissolve", duration=0.3),  # 7 frames (7.2)
        Transition(),  # cut
        Transition(type="wipe", direction="down", duration=0.5),  # 12
        Transition(type="circle", duration=0.2),  # 5 (4.8)
    ]
    scenes = make_scenes(tmp_path, [moving_gradient(i, n) for i, n in enumerate(counts)], transitions)
    expected = sum(counts) - (7 + 0 + 12 + 5)
    for cache in (None, tmp_path / "segments"):
        out = tmp_path / f"out-{cache is None}.mp4"
        progress_seen = []
        report = compose(scenes, transitions, out, SETTINGS, segment_cache=cache, on_progress=progress_seen.append)
        audit = audit_decode(out)
        assert report.frames == audit.frames == expected, cache
        assert audit.clean, audit
        assert progress_seen[-1] == expected and progress_seen == sorted(progress_seen)
        assert report.frames_encoded == 7 + 12 + 5  # the transitions, nothing else
    assert not list(tmp_path.glob(".segments-*")), "the temporary segments are removed"


FOUR_TRANSITIONS = [
    Transition(type="dissolve", duration=0.25),
    Transition(type="wipe", direction="left", duration=0.25),
    Transition(type="circle", duration=0.25),
]


@pytest.fixture
def four_scenes(tmp_path):
    frames = [moving_gradient(10 + i, 24) for i in range(4)]
    return frames, list(FOUR_TRANSITIONS)


def test_every_programme_frame_is_encoded_once(tmp_path, four_scenes):
    frames, transitions = four_scenes
    scenes = make_scenes(tmp_path, frames, transitions)
    cache = tmp_path / "segments"
    report = compose(scenes, transitions, tmp_path / "v.mp4", SETTINGS, segment_cache=cache)
    solo_frames = sum(scene.solo_frames for scene in scenes)
    assert report.frames == 78 and report.frames_encoded == 18 and solo_frames + report.frames_encoded == 78
    # The programme's packets are the segments' packets, byte for byte, in timeline order:
    # the solo parts as the scenes' renders encoded them (never decoded and encoded
    # again), each transition as the one segment it was encoded into.
    transition_segments = {tuple(packets(path)) for path in cache.glob("*/*.mp4")}
    assert len(transition_segments) == 3
    programme = packets(tmp_path / "v.mp4")
    at = 0
    for piece in pieces(plan([24] * 4, [6, 6, 6])):
        got = tuple(programme[at : at + piece.frames])
        if piece.transition:
            assert got in transition_segments, piece
        else:
            assert got == tuple(packets(scenes[piece.scene].solo)), piece
        at += piece.frames
    assert at == len(programme) == 78


def test_incremental_recomposition_reencodes_only_what_changed(tmp_path, four_scenes):
    frames, transitions = four_scenes
    scenes = make_scenes(tmp_path, frames, transitions)
    cache = tmp_path / "segments"
    first = compose(scenes, transitions, tmp_path / "v1.mp4", SETTINGS, segment_cache=cache)
    assert (first.pieces, first.pieces_encoded, first.frames_encoded, first.frames) == (7, 3, 18, 96 - 18)

    again = compose(scenes, transitions, tmp_path / "v1-again.mp4", SETTINGS, segment_cache=cache)
    assert (again.pieces_encoded, again.frames_encoded) == (0, 0)
    assert (tmp_path / "v1-again.mp4").read_bytes() == (tmp_path / "v1.mp4").read_bytes()

    # Scene 2 (index 1) is rendered again (its own solo part encoded by its render): here
    # only the transitions on either side of it are blended and encoded.
    frames[1] = moving_gradient(99, 24)
    scenes[1] = write_scene(tmp_path, "scene1-new", frames[1], 6, 6)
    incremental = compose(scenes, transitions, tmp_path / "v2.mp4", SETTINGS, segment_cache=cache)
    assert (incremental.pieces_encoded, incremental.frames_encoded) == (2, 12)

    audit = audit_decode(tmp_path / "v2.mp4")
    assert audit.clean, audit
    assert audit.frames == 78
    # Every piece starts on a keyframe: transitions at 18 and 36, solo parts at 24, 42, 60 …
    assert {0, 18, 24, 36, 42, 54, 60} <= set(audit.keyframes)

    # Identical to a full composition from scratch (empty cache) …
    full = compose(scenes, transitions, tmp_path / "full.mp4", SETTINGS, segment_cache=tmp_path / "fresh")
    assert full.pieces_encoded == 3
    got = list(read_frames(tmp_path / "v2.mp4"))
    assert min_psnr(got, list(read_frames(tmp_path / "full.mp4"))) == float("inf")
    # … and the programme the timeline describes, up to one encode's loss (luma: see luma_psnr).
    expected = frames[0][:18] + [
        blend(transitions[0], frames[0][18 + k], frames[1][k], progress(k, 6)) for k in range(6)
    ] + frames[1][6:18]
    assert min(luma_psnr(x, y) for x, y in zip(got, expected)) >= 38
    # The unchanged scenes' pieces were copied, not re-encoded: scene 1 still shows.
    assert min_psnr(got[:18], list(read_frames(tmp_path / "v1.mp4"))[:18]) == float("inf")


@pytest.mark.parametrize(("changed", "encoded"), [(0, 1), (3, 1)])
def test_changing_an_end_scene_touches_one_transition(tmp_path, four_scenes, changed, encoded):
    frames, transitions = four_scenes
    scenes = make_scenes(tmp_path, frames, transitions)
    cache = tmp_path / "segments"
    compose(scenes, transitions, tmp_path / "v1.mp4", SETTINGS, segment_cache=cache)
    frames[changed] = moving_gradient(77, 24)
    scenes[changed] = make_scenes(tmp_path, frames, transitions, tag="-new")[changed]
    report = compose(scenes, transitions, tmp_path / "v2.mp4", SETTINGS, segment_cache=cache)
    assert report.pieces_encoded == encoded
    assert audit_decode(tmp_path / "v2.mp4").clean


def test_changing_a_transition_reencodes_only_that_transition(tmp_path, four_scenes):
    frames, transitions = four_scenes
    scenes = make_scenes(tmp_path, frames, transitions)
    cache = tmp_path / "segments"
    compose(scenes, transitions, tmp_path / "v1.mp4", SETTINGS, segment_cache=cache)
    transitions[1] = Transition(type="push", direction="up", duration=0.25)
    report = compose(scenes, transitions, tmp_path / "v2.mp4", SETTINGS, segment_cache=cache)
    assert (report.pieces_encoded, report.frames_encoded) == (1, 6)
    # A longer transition re-splits its two scenes (their renders encode their solo
    # parts again); here that transition alone is encoded.
    transitions[1] = Transition(type="push", direction="up", duration=0.5)
    with pytest.raises(MediaError, match=r"scene 'scene 2'.*split for transitions of 6 frames in and 6 out.*6 and 12"):
        compose(scenes, transitions, tmp_path / "stale.mp4", SETTINGS, segment_cache=cache)
    scenes = make_scenes(tmp_path, frames, transitions, tag="-longer")
    report = compose(scenes, transitions, tmp_path / "v3.mp4", SETTINGS, segment_cache=cache)
    assert (report.pieces_encoded, report.frames_encoded) == (1, 12)
    assert report.frames == 96 - 6 - 12 - 6 and audit_decode(tmp_path / "v3.mp4").clean


def test_impossible_timeline_names_the_scene_and_writes_nothing(tmp_path):
    long = write_scene(tmp_path, "long", moving_gradient(1, 24), 0, 0)
    short = write_scene(tmp_path, "short", moving_gradient(2, 5), 0, 0)
    out = tmp_path / "out.mp4"
    with pytest.raises(TimelineError, match=r"'intro'.*longer than scene 'outro' \(5 frames\)"):
        compose([long, short], [Transition(type="dissolve", duration=0.5)], out, SETTINGS, names=["intro", "outro"])
    assert not out.exists()


def test_parts_of_another_size_are_refused(tmp_path):
    dissolve = [Transition(type="dissolve", duration=0.1)]  # 2 frames
    good, _ = make_scenes(tmp_path, [moving_gradient(1, 4), moving_gradient(2, 4)], dissolve)
    odd = SceneParts.in_folder(tmp_path / "odd", 4, 2, 0)
    with ScenePartsWriter(odd, VideoSettings(64, 36, FPS)) as writer:
        for _ in range(4):
            writer.write(np.zeros((36, 64, 3), np.uint8))
    with pytest.raises(MediaError, match=r"odd.solo\.mp4.*64x36, expected 128x72"):
        compose([good, odd], dissolve, tmp_path / "o.mp4", SETTINGS)
    odd_head = SceneParts(4, 2, 0, odd.head, write_scene(tmp_path, "fine", moving_gradient(3, 2), 0, 0).solo, None)
    with pytest.raises(MediaError, match=r"odd.head\.npy.*64x36, expected 128x72"):
        compose([good, odd_head], dissolve, tmp_path / "o.mp4", SETTINGS)
    assert not (tmp_path / "o.mp4").exists()


def test_segment_cache_prunes_least_recently_used(tmp_path):
    cache = SegmentCache(tmp_path)
    keys = [f"{i:02d}" + "ab" * 31 for i in range(3)]
    for age, key in enumerate(keys):
        path = cache.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
        cache.seal(path)
        os.utime(path, ns=(age * 10**9, age * 10**9))
    assert cache.get(keys[0]) is not None  # used now: the newest
    assert cache.prune(max_bytes=200) == 100
    assert [cache.get(key) is not None for key in keys] == [True, False, True]


def test_a_damaged_or_unsealed_segment_is_encoded_again(tmp_path, four_scenes):
    """A cached transition whose bytes no longer match the hash recorded when it was
    made (or that a crash left unsealed) is dropped and encoded again, not joined in."""
    frames, transitions = four_scenes
    scenes = make_scenes(tmp_path, frames, transitions)
    cache = tmp_path / "segments"
    compose(scenes, transitions, tmp_path / "v1.mp4", SETTINGS, segment_cache=cache)
    segments = sorted(cache.glob("*/*.mp4"))
    assert len(segments) == 3 and all(p.with_suffix(".sha256").is_file() for p in segments)
    damaged = bytearray(segments[0].read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    segments[0].write_bytes(bytes(damaged))
    segments[1].with_suffix(".sha256").unlink()
    again = compose(scenes, transitions, tmp_path / "v2.mp4", SETTINGS, segment_cache=cache)
    assert (again.pieces_encoded, again.frames_encoded) == (2, 12)
    assert audit_decode(tmp_path / "v2.mp4").clean
    assert (tmp_path / "v2.mp4").read_bytes() == (tmp_path / "v1.mp4").read_bytes()
