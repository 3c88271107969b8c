"""Incremental composition and frame accuracy of transitions, measured in one run.

    .venv/bin/python benchmarks/compose_incremental.py            # the issue's project (a few minutes)
    .venv/bin/python benchmarks/compose_incremental.py --quick    # small and fast, for a smoke run

1. The encoding a change of one scene costs, against encoding the whole project.
   A project of N scenes (default 10 × 5 s at 1080p30) joined by 0.8 s dissolves. Each
   scene's frames (synthetic, moving like a parallax clip) are written into its parts the
   way parallax_clip writes them (`ScenePartsWriter`: the solo frames H.264-encoded with
   the project's x264 settings, the transition frames kept lossless). Timed:
     a. every scene's parts, then the first composition into an empty segment cache
        (every transition blended and encoded, solo parts stream-copied): the project;
     b. one scene changes: its parts written again, then the composition from the cache
        of (a) (only the two transitions beside it encoded);
     c. the changed project composed from an empty cache (every transition again).
   Target: (b) takes at most 25 % of (a). The output of (b) must equal (c) frame for
   frame and decode cleanly (no errors, continuous timestamps), and every frame of it is
   encoded once: frames encoded by the parts plus by the composition = programme frames.
2. Frame accuracy: for every transition type and direction, a short three-scene
   programme is composed with and without a segment cache and decoded; the decoded frame
   count must equal the timeline arithmetic (Σ scene frames − Σ overlaps).
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
from parallax_pipeline.engine.video.codec import VideoSettings, read_frames  # noqa: E402
from parallax_pipeline.engine.video.concat import audit_decode  # noqa: E402
from parallax_pipeline.engine.video.parts import SceneParts, ScenePartsWriter  # noqa: E402

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


def write_parts(folder: Path, frames, count: int, overlap_in: int, overlap_out: int, settings) -> SceneParts:
    """A scene's frames into its parts, as `render_scene` writes them."""
    parts = SceneParts.in_folder(folder, count, overlap_in, overlap_out)
    with ScenePartsWriter(parts, settings) as writer:
        for frame in frames:
            writer.write(frame)
    return parts


def project_parts(work: Path, seeds, counts, transitions, settings, tag: str) -> list[SceneParts]:
    places = timeline.plan(counts, [t.overlap_frames(settings.fps) for t in transitions])
    return [
        write_parts(work / f"{tag}{seed}", scene_frames(seed, n, settings.width, settings.height), n,
                    place.overlap_in, place.overlap_out, settings)
        for seed, n, place in zip(seeds, counts, places)
    ]


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

    seeds = list(range(scenes))
    parts, t_parts = timed(lambda: project_parts(work, seeds, [frames] * scenes, transitions, settings, "scene"))
    solo = sum(p.solo_frames for p in parts)
    cache = work / "segments"
    first, t_first = timed(lambda: compose(parts, transitions, work / "first.mp4", settings, segment_cache=cache))
    print(f"a. the project: every scene's parts {t_parts:7.2f} s ({solo} solo frames encoded), first composition "
          f"{t_first:7.2f} s ({first.pieces_encoded} transitions, {first.frames_encoded} frames encoded)")

    changed = scenes // 2
    new_frames = scene_frames(1000 + changed, frames, width, height)
    part, t_part = timed(lambda: write_parts(work / "changed", new_frames, frames, parts[changed].overlap_in,
                                             parts[changed].overlap_out, settings))
    parts[changed] = part
    again, t_again = timed(lambda: compose(parts, transitions, work / "incremental.mp4", settings, segment_cache=cache))
    print(f"b. scene {changed + 1} changed: its parts {t_part:7.2f} s ({part.solo_frames} solo frames encoded), "
          f"re-composition {t_again:7.2f} s ({again.pieces_encoded} transitions, {again.frames_encoded} frames encoded, "
          "the rest stream-copied)")

    fresh, t_fresh = timed(
        lambda: compose(parts, transitions, work / "fresh.mp4", settings, segment_cache=work / "fresh-segments")
    )
    print(f"c. the changed project composed from an empty cache: {t_fresh:7.2f} s ({fresh.frames_encoded} frames encoded)")

    ratio = (t_part + t_again) / (t_parts + t_first)
    # The 25 % target is for the project; a smoke run's few scenes make the
    # changed scene a larger share of the film.
    target = "   (target <= 25%)" if speed_target else "   (no target: --quick)"
    print(f"a change of one scene / the whole project (b/a) = {ratio:6.1%}{target}")
    once = solo + first.frames_encoded == expected
    print(f"frames encoded for the project: {solo} solo + {first.frames_encoded} transition = "
          f"{solo + first.frames_encoded} (programme: {expected}; each frame once: {once})")

    audit = audit_decode(work / "incremental.mp4")
    print(f"incremental output: {audit.frames} frames decoded (expected {expected}), decoder errors: "
          f"{len(audit.errors)}, corrupt frames: {audit.corrupt_frames}, timestamps continuous: "
          f"{audit.timestamps_continuous}, decode order valid: {audit.decode_order_valid}")
    same = float("inf")
    for got, from_empty_cache in zip(read_frames(work / "incremental.mp4"), read_frames(work / "fresh.mp4")):
        same = min(same, psnr(got, from_empty_cache))
    print(f"incremental vs composition from an empty cache: min PSNR {same:.1f} dB (target: identical, inf)")
    exact = audit.clean and audit.frames == expected == again.frames and once
    fast = ratio <= 0.25 or not speed_target
    return fast and exact and same == float("inf")


def accuracy_figures(work: Path, width: int, height: int, fps: int) -> bool:
    settings = VideoSettings(width, height, fps)
    counts = [round(1.1 * fps), round(0.9 * fps), round(1.3 * fps)]
    print(f"\n## Frame accuracy: 3 scenes of {counts} frames at {width}x{height}@{fps}, transitions 0.4 s and 0.3 s")
    print(f"{'transition':<18}{'arithmetic':>11}{'no cache':>10}{'cached':>10}  clean")
    ok = True
    for number, variant in enumerate(VARIANTS):
        joins = [variant, variant] if variant.type == "cut" else [
            variant.model_copy(update={"duration": 0.4}),
            variant.model_copy(update={"duration": 0.3}),
        ]
        overlaps = [t.overlap_frames(fps) for t in joins]
        expected = timeline.total_frames(timeline.plan(counts, overlaps))
        parts = project_parts(work, [50, 51, 52], counts, joins, settings, f"acc{number}-")
        decoded, clean = [], True
        for cache in (None, work / "acc-segments"):
            out = work / "acc.mp4"
            compose(parts, joins, out, settings, segment_cache=cache)
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
    checked = "exact output, each frame encoded once" if args.quick else "25%, exact output, each frame encoded once"
    print(f"\nresult: incremental re-composition ({checked}) {'met' if incremental_ok else 'MISSED'}, "
          f"frame accuracy {'exact' if accuracy_ok else 'WRONG'}")
    return 0 if incremental_ok and accuracy_ok else 1


if __name__ == "__main__":
    sys.exit(main())
