"""Scenes side by side: one project through `parallax run` with the run queue's limit at
the core count against one run at a time, in the same session, alternating.

    .venv/bin/python benchmarks/parallel_scenes.py                  # 12 scenes, 720p30, 3 s each
    .venv/bin/python benchmarks/parallel_scenes.py --demo           # the README's demo project
    .venv/bin/python benchmarks/parallel_scenes.py --before /work/old   # and another checkout's `parallax run`

Each pass is `parallax run` in a fresh process on a fresh SQLite DAGSTER_HOME, store and
renders folder (`project_end_to_end.parallax_run`), so process start, imports, planning,
every run's launch and the final MP4 are in the figure. Modes:

* ``parallel``: `PARALLAX_MAX_RUNS` = ``--workers`` (default: the core count): the queue
  launches that many runs at once, so independent scenes render side by side (the depth
  steps still one at a time: the ``gpu`` pool);
* ``sequential``: `PARALLAX_MAX_RUNS=1`, the same runs one after another;
* ``before`` (with ``--before``): that checkout's `parallax run` as it is.

Modes alternate ``--repeats`` times; the best wall time of each is kept (a burst of load
from elsewhere decides nothing), and the median is printed beside it. Printed: one JSON
line per mode, then ``parallel / sequential`` (the issue's goal on a 2-core machine: at
most 1.05) and, with ``--before``, each mode against it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from project_end_to_end import DEMO, add_project_arguments, frame_size, parallax_run, write_project  # noqa: E402


def one_pass(source: Path, work: Path, checkout: Path | None, env: dict[str, str]) -> float:
    """`parallax run` of ``work/projects``, a fresh copy of ``source``, on a fresh SQLite
    DAGSTER_HOME (`project_end_to_end.parallax_run`): its wall seconds."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(source, work / "projects")
    return parallax_run(work, checkout, env)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser, scenes=12, seconds=3.0, dissolve=0.5, size="1280x720")
    parser.add_argument("--demo", action="store_true", help="the demo project instead of a generated one")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="runs at once in the parallel mode")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--before", help="a checkout whose `parallax run` is measured as it is (PYTHONPATH)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="parallel-scenes-") as temp:
        temp = Path(temp)
        source = temp / "source"
        if args.demo:
            shutil.copytree(DEMO, source / "demo")
        else:
            write_project(source / "bench", args.scenes, args.seconds, args.dissolve, frame_size(args.size), args.fps)
        modes: dict[str, tuple[Path | None, dict[str, str]]] = {
            "parallel": (None, {"PARALLAX_MAX_RUNS": str(args.workers)}),
            "sequential": (None, {"PARALLAX_MAX_RUNS": "1"}),
        }
        if args.before:
            modes["before"] = (Path(args.before).resolve(), {})
        walls: dict[str, list[float]] = {mode: [] for mode in modes}
        for repeat in range(args.repeats):
            for mode, (checkout, env) in modes.items():
                wall = one_pass(source, temp / mode, checkout, env)
                walls[mode].append(wall)
                print(f"# pass {repeat + 1} {mode}: {wall:.2f} s", file=sys.stderr, flush=True)
        best = {mode: min(values) for mode, values in walls.items()}
        for mode in modes:
            print(json.dumps({
                "mode": mode, "project": "demo" if args.demo else f"{args.scenes} scenes {args.size}",
                "cores": os.cpu_count(), "runs_at_once": int(modes[mode][1].get("PARALLAX_MAX_RUNS", 0)) or None,
                "wall_best_s": round(best[mode], 2), "wall_median_s": round(statistics.median(walls[mode]), 2),
            }))
        summary = {"parallel_over_sequential": round(best["parallel"] / best["sequential"], 3)}
        if args.before:
            summary |= {f"{mode}_over_before": round(best[mode] / best["before"], 3) for mode in ("parallel", "sequential")}
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
