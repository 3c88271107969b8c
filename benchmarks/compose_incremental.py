"""Incremental composition and frame accuracy of transitions, measured in one run.

    .venv/bin/python benchmarks/compose_incremental.py            # the issue's project (a few minutes)
    .venv/bin/python benchmarks/compose_incremental.py --quick    # small and fast, for a smoke run

1. Re-composition after one scene changed, against a full composition.
   A project of N scenes (default 10 × 5 s at 1080p30) joined by 0.8 s dissolves. Scene
   clips are made first (not timed) the way parallax_clip makes them (VideoWriter, the
   project's x264 settings). Then, timed:
     a. the first composition into an empty segment cache (every piece encoded);
     b. one scene's clip is replaced (not timed), and the whole programme is composed
        again in one pass: the full re-encode an ffmpeg script would do;
     c. the same change composed incrementally from the cache of (a);
     d. the changed project composed from an empty cache (the first composition again).
   Target: (c) takes at most 25 % of (b) and of (d). The output of (c) must equal (d)
   frame for frame (PSNR >= 40 dB) and decode cleanly (no errors, continuous
   timestamps); its PSNR against (b), a different encode, is printed too.
2. Frame accuracy: for every transition type and direction, a short three-scene
   programme is composed both ways and decoded; the decoded frame count must equal the
   timeline arithmetic (Σ scene frames − Σ overlaps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from parallax_pipeline.engine.compose import timeline  # noqa: E402
from parallax_pipeline.engine.compose.programme import compose  # noqa: E402
from parallax_pipeline.engine.compose.transitions import Transition, every_variant  # noqa: E402
from parallax_pipeline.engine.video.codec import VideoSettings, encode_frames, read_frames
from parallax_pipeline.engine.video.concat import audit_decode  # noqa: E402

VARIANTS = every_variant()


def _plate(rng, width: int, height: int) -> np.ndarray:
    """Smooth structure at several scales plus fine detail (float32, about 0 … 255)."""
    plate = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((4, 90.0), (16, 40.0), (64, 18.0), (256, 8.0)):
        noise = rng.standard_normal((max(2, cells * height // width), cells, 3)).astype(np.float32)
        plate += weight * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(plate + 128, 0, 255)


def scene_frames(seed: int, n: int, width: int, height: int):
    """Two textured layers moving at different speeds (a far plate 1 px a frame, near
    shapes 4 px a frame) with soft-edged occlusion: the kind of motion a parallax clip
    has, so the encoder works about as hard as it does on real scene clips."""
    rng = np.random.default_rng(seed)
    far = _plate(rng, width + n + 8, height).astype(np.uint8)
    near_width = width + 4 * n + 8
    near = _plate(rng, near_width, height).astype(np.uint8)
    shapes = cv2.resize(rng.standard_normal((6, 6 * near_width // height)).astype(np.float32), (near_width, height),
                        interpolation=cv2.INTER_CUBIC)
    mask = np.clip((shapes - 0.3) * 4, 0, 1).astype(np.float32)  # soft edges a few px wide
    for i in range(n):
        weight = np.ascontiguousarray(mask[:, 4 * i : 4 * i + width])
        yield cv2.blendLinear(
            np.ascontiguousarray(far[:, i : i + width]),
            np.ascontiguousarray(near[:, 4 * i : 4 * i + width]),
            1.0 - weight,
            weight,
        )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def incremental_figures(
    work: Path, scenes: int, seconds: float, width: int, height: int, fps: int, speed_target: bool
) -> bool:
    """Print the timings; True when the output is exact and (if ``speed_target``) fast enough."""
    settings = VideoSettings(width, height, fps)  # the "standard" quality: crf 20, veryfast
    frames = round(seconds * fps)
    dissolve = Transition(type="dissolve", duration=0.8)
    transitions = [dissolve] * (scenes - 1)
    overlap = dissolve.overlap_frames(fps)
    expected = scenes * frames - (scenes - 1) * overlap
    print(f"## Incremental re-composition: {scenes} scenes x {seconds:g} s, {width}x{height}@{fps}, "
          f"0.8 s dissolves ({overlap} frames)")
    print(f"programme: {scenes} x {frames} - {scenes - 1} x {overlap} = {expected} frames")

    clips = [work / f"scene{i:02d}.mp4" for i in range(scenes)]
    start = time.perf_counter()
    for i, clip in enumerate(clips):
        encode_frames(scene_frames(i, frames, width, height), clip, settings)
    made = time.perf_counter() - start
    print(f"setup: {scenes} clips encoded in {made:.1f} s (not part of any figure)")

    cache = work / "segments"
    first, t_first = timed(lambda: compose(clips, transitions, work / "first.mp4", settings, segment_cache=cache))
    print(f"a. first composition, empty segment cache: {t_first:7.2f} s  "
          f"({first.pieces_encoded}/{first.pieces} pieces, {first.frames_encoded} frames encoded)")

    changed = scenes // 2
    encode_frames(scene_frames(1000 + changed, frames, width, height), clips[changed], settings)
    full, t_full = timed(lambda: compose(clips, transitions, work / "full.mp4", settings))
    print(f"b. full composition in one pass (scene {changed + 1} changed): {t_full:7.2f} s  "
          f"({full.frames_encoded} frames encoded)")

    again, t_again = timed(lambda: compose(clips, transitions, work / "incremental.mp4", settings, segment_cache=cache))
    print(f"c. incremental re-composition (scene {changed + 1} changed): {t_again:7.2f} s  "
          f"({again.pieces_encoded}/{again.pieces} pieces, {again.frames_encoded} frames encoded, rest stream-copied)")

    fresh, t_fresh = timed(
        lambda: compose(clips, transitions, work / "fresh.mp4", settings, segment_cache=work / "fresh-segments")
    )
    print(f"d. full composition from an empty cache (scene {changed + 1} changed): {t_fresh:7.2f} s  "
          f"({fresh.frames_encoded} frames encoded)")

    ratio_full, ratio_fresh = t_again / t_full, t_again / t_fresh
    # The 25 % target is for the project; a smoke run's few scenes make the
    # changed scene a larger share of the film.
    target = "   (target <= 25%)" if speed_target else "   (no target: --quick)"
    print(f"re-composition / full one-pass composition      (c/b) = {ratio_full:6.1%}{target}")
    print(f"re-composition / full composition, empty cache  (c/d) = {ratio_fresh:6.1%}{target}")
    print(f"full composition, empty cache / one pass        (d/b) = {t_fresh / t_full:6.2f}x")

    audit = audit_decode(work / "incremental.mp4")
    print(f"incremental output: {audit.frames} frames decoded (expected {expected}), decoder errors: "
          f"{len(audit.errors)}, corrupt frames: {audit.corrupt_frames}, timestamps continuous: "
          f"{audit.timestamps_continuous}, decode order valid: {audit.decode_order_valid}")
    # Frame for frame, streaming the three decodes side by side (1080p frames are 6 MB each).
    same = other = other_luma = float("inf")
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    decoded = zip(*(read_frames(work / name) for name in ("incremental.mp4", "fresh.mp4", "full.mp4")))
    for got, from_empty_cache, one_pass in decoded:
        same = min(same, psnr(got, from_empty_cache))
        other = min(other, psnr(got, one_pass))
        other_luma = min(other_luma, psnr(got.astype(np.float32) @ luma, one_pass.astype(np.float32) @ luma))
    print(f"incremental vs full composition from an empty cache: min PSNR {same:.1f} dB (target >= 40)")
    print(f"incremental vs one-pass composition (a different encode of the same picture): "
          f"min PSNR {other:.1f} dB, luma {other_luma:.1f} dB")
    exact = audit.clean and audit.frames == expected == again.frames
    fast = max(ratio_full, ratio_fresh) <= 0.25 or not speed_target
    return fast and exact and same >= 40


def accuracy_figures(work: Path, width: int, height: int, fps: int) -> bool:
    settings = VideoSettings(width, height, fps)
    counts = [round(1.1 * fps), round(0.9 * fps), round(1.3 * fps)]
    clips = [work / f"acc{i}.mp4" for i in range(3)]
    for i, (clip, n) in enumerate(zip(clips, counts)):
        encode_frames(scene_frames(50 + i, n, width, height), clip, settings)
    print(f"\n## Frame accuracy: 3 scenes of {counts} frames at {width}x{height}@{fps}, transitions 0.4 s and 0.3 s")
    print(f"{'transition':<18}{'arithmetic':>11}{'one pass':>10}{'segments':>10}  clean")
    ok = True
    for variant in VARIANTS:
        joins = [variant, variant] if variant.type == "cut" else [
            variant.model_copy(update={"duration": 0.4}),
            variant.model_copy(update={"duration": 0.3}),
        ]
        overlaps = [t.overlap_frames(fps) for t in joins]
        expected = timeline.total_frames(timeline.plan(counts, overlaps))
        decoded, clean = [], True
        for cache in (None, work / "acc-segments"):
            out = work / "acc.mp4"
            compose(clips, joins, out, settings, segment_cache=cache)
            audit = audit_decode(out)
            decoded.append(audit.frames)
            clean = clean and audit.clean
        ok = ok and clean and decoded == [expected, expected]
        name = variant.type + (f" {variant.direction}" if variant.direction else "")
        print(f"{name:<18}{expected:>11}{decoded[0]:>10}{decoded[1]:>10}  {clean}")
    print(f"decoded frame count equals the arithmetic for every transition: {ok}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 scenes x 2 s at 640x360: a smoke run")
    args = parser.parse_args()
    scenes, seconds, (width, height) = (4, 2.0, (640, 360)) if args.quick else (10, 5.0, (1920, 1080))
    with tempfile.TemporaryDirectory(prefix="compose-bench-") as folder:
        work = Path(folder)
        incremental_ok = incremental_figures(work, scenes, seconds, width, height, 30, speed_target=not args.quick)
        accuracy_ok = accuracy_figures(work, 640, 360, 30)
    checked = "exact output" if args.quick else "25% and exact output"
    print(f"\nresult: incremental re-composition ({checked}) {'met' if incremental_ok else 'MISSED'}, "
          f"frame accuracy {'exact' if accuracy_ok else 'WRONG'}")
    return 0 if incremental_ok and accuracy_ok else 1


if __name__ == "__main__":
    sys.exit(main())
