"""A clip rendered by a fresh process, as each run renders one: freed memory kept or not.

Every scene of a project is rendered by a run of its own, a fresh process (forked from
the fork server, which has loaded the kernels). Its arrays take fresh pages from the
kernel, and a page a process frees goes back to it. `engine.memory.reuse_freed_memory`
keeps freed memory in the process for its next arrays and gives numpy's large arrays
ordinary pages instead of transparent huge pages. This compares the two in one run:

for ``--repeats`` rounds, alternately with ``PARALLAX_KEEP_FREED_MEMORY=1`` (the default)
and ``=0`` (the allocators as they are), a fresh Python process renders a tiny clip (the
fork server's warm-up: compiled kernels, codecs) and then the timed clip, a demo scene at
1080p30 for 5 s (150 frames, x264 veryfast CRF 20), and prints its wall, user and kernel
seconds and page faults. Each process starts ``--pause`` seconds after the last ended,
as the runs of a project do, so memory that was freed has been given back to the
machine's hypervisor where it takes it back.

Usage (from the repository root)::

    .venv/bin/python benchmarks/cold_clip.py [--scene 02-forest] [--repeats 3] [--pause 3]

Printed: one JSON row per process and a summary with the median of each variant and
``ratio = kept / default`` wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1] + "/benchmarks")
sys.path.insert(0, sys.argv[1])
from parallax_speed import load_scene
import parallax_pipeline.fork_server_warmup  # the tiny clip a run's fork server renders
from parallax_pipeline.engine.parallax.camera import Motion
from parallax_pipeline.engine.parallax.clip import render_clip
from parallax_pipeline.engine.video.codec import VideoSettings

image, disparity = load_scene(sys.argv[2], (1920, 1080))
before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
with tempfile.TemporaryDirectory() as folder:
    render_clip(image, disparity, Motion(preset="circle"), 150, VideoSettings(1920, 1080, 30, crf=20, preset="veryfast"),
                Path(folder) / "clip.mp4", backend="opencv")
seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": round(seconds, 2), "user_s": round(after.ru_utime - before.ru_utime, 2),
                  "kernel_s": round(after.ru_stime - before.ru_stime, 2),
                  "page_faults": after.ru_minflt - before.ru_minflt, "max_rss_mb": after.ru_maxrss // 1024}))
"""


def cold_clip(scene: str, keep: bool) -> dict:
    env = dict(os.environ, PARALLAX_KEEP_FREED_MEMORY="1" if keep else "0")
    done = subprocess.run([sys.executable, "-c", CHILD, str(REPO), scene], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="02-forest")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pause", type=float, default=3.0)
    a = ap.parse_args()
    rows: dict[bool, list[dict]] = {True: [], False: []}
    for _ in range(a.repeats):
        for keep in (True, False):
            time.sleep(a.pause)
            row = cold_clip(a.scene, keep)
            rows[keep].append(row)
            print(json.dumps({"keep_freed_memory": keep, **row}), flush=True)
    median = {keep: {key: statistics.median(r[key] for r in rows[keep]) for key in rows[keep][0]} for keep in rows}
    print(json.dumps({"summary": f"{a.scene} 1080p30 5 s clip in a fresh process (medians)",
                      "kept": median[True], "default": median[False],
                      "ratio_wall": round(median[True]["wall_s"] / median[False]["wall_s"], 3)}), flush=True)


if __name__ == "__main__":
    main()
