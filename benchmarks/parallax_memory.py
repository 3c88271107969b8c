"""Parallax memory: peak RSS of a 10 s 2160p30 clip rendered and encoded end to end.

Each measurement runs in a fresh child process (this script, with ``--child``) that
loads a demo picture and its exact depth map, scales both to 3840x2160, renders the
clip with `parallax_pipeline.engine.parallax.clip.render_clip` (rendering overlapped with x264
veryfast encoding) and exits; the parent reads the child's peak resident set size from
``getrusage(RUSAGE_CHILDREN)``. The target is under 1.5 GB.

Usage (from the repository root)::

    .venv/bin/python benchmarks/parallax_memory.py [--scenes 02-forest 01-valley] [--preset circle]
        [--seconds 10] [--size 3840x2160]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_GB = 1.5


def child(scene: str, preset: str, seconds: float, size: tuple[int, int], out: Path) -> None:
    sys.path.insert(0, str(REPO))
    import cv2
    import numpy as np

    from parallax_pipeline.engine.depth.maps import read_depth_file
    from parallax_pipeline.engine.parallax import clip, images
    from parallax_pipeline.engine.parallax.camera import Motion
    from parallax_pipeline.engine.video.codec import VideoSettings

    demo = REPO / "projects" / "demo"
    image = cv2.resize(images.load_image(demo / "images" / f"{scene}.jpg"), size, interpolation=cv2.INTER_CUBIC)
    disparity = np.clip(cv2.resize(read_depth_file(demo / "depth" / f"{scene}.png"), size), 0.0, 1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    settings = VideoSettings(size[0], size[1], 30, crf=20, preset="veryfast")
    started = time.perf_counter()
    report = clip.render_clip(image, disparity, Motion(preset=preset), round(seconds * 30), settings, out, backend="opencv")
    print(json.dumps({"frames": report.frames, "layers": report.layers, "inputs_rss_mb": round(before),
                      "prepare_s": round(report.prepare_seconds, 2), "render_s": round(time.perf_counter() - started, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", nargs="+", default=["02-forest"])
    ap.add_argument("--preset", default="circle")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="3840x2160")
    ap.add_argument("--child", nargs=2, metavar=("SCENE", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    size = tuple(int(v) for v in a.size.lower().split("x"))
    if a.child:
        child(a.child[0], a.preset, a.seconds, size, Path(a.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for scene in a.scenes:
            out = Path(tmp) / f"{scene}.mp4"
            command = [sys.executable, __file__, "--preset", a.preset, "--seconds", str(a.seconds),
                       "--size", a.size, "--child", scene, str(out)]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            # ru_maxrss is the largest of any child so far; children run one at a time and
            # the scenes are listed heaviest first, so each line reports its own peak
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            row = {"scene": scene, "preset": a.preset, "size": a.size, "seconds": a.seconds,
                   **json.loads(result.stdout.strip().splitlines()[-1]),
                   "peak_rss_mb": round(peak_mb), "limit_mb": round(LIMIT_GB * 1024),
                   "under_limit": peak_mb < LIMIT_GB * 1024}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
