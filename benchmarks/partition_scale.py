"""Many projects: partition keys per scene asset, sensor tick cost first and idle, and
automation evaluation time, for N synthetic projects x S scenes (tiny pictures and depth
maps on disk, nothing rendered), each N measured in one run on a fresh SQLite instance.

    .venv/bin/python benchmarks/partition_scale.py                # N = 10, 100; S = 10
    .venv/bin/python benchmarks/partition_scale.py --counts 10 100 1000

Printed per N (one JSON line): ``keys_per_scene_asset`` (the project x scene cross
product the multi-partitions form) and ``real_scenes``; ``first_tick_s`` (a tick with no
cursor: every project compared, partitions registered); ``full_compare_s`` (a tick that
compares every project again: what every idle tick cost before the sensor kept a
cursor); ``idle_tick_s`` (nothing changed since the last tick); ``one_change_tick_s``
(one picture replaced); ``automation_s`` (one evaluation of the automation conditions).
Goals of the partitions-at-scale issue at N = 1,000, S = 10: keys <= 10,000 + a bounded
slack, idle tick <= 1 s, automation <= 5 s, all growing linearly or better with N.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import dagster as dg
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parallax_pipeline import partitions  # noqa: E402, I001
from parallax_pipeline.definitions import build_definitions  # noqa: E402  (first: it quiets Dagster's beta notices)


def make_projects(root: Path, count: int, scenes: int) -> None:
    rng = np.random.default_rng(0)
    for p in range(count):
        folder = root / f"p{p:04d}"
        (folder / "images").mkdir(parents=True)
        (folder / "depth").mkdir()
        (folder / "project.yaml").write_text("output: {resolution: [64, 36], fps: 24, quality: draft}\n")
        for s in range(scenes):
            scene = f"p{p:04d}-s{s:02d}"  # scene names of real projects differ from project to project
            cv2.imwrite(str(folder / "images" / f"{scene}.png"), rng.integers(0, 255, (18, 32, 3), np.uint8))
            depth = (rng.random((18, 32)) * 65535).astype(np.uint16)
            cv2.imwrite(str(folder / "depth" / f"{scene}.png"), depth)


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    sensor = defs.resolve_sensor_def("projects_sensor")
    started = time.perf_counter()
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources, cursor=cursor) as context:
        result = sensor(context)
        seconds = time.perf_counter() - started
        if isinstance(result, dg.SensorResult):
            for request in result.dynamic_partitions_requests:
                if isinstance(request, dg.AddDynamicPartitionsRequest):
                    instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            return seconds, result.cursor, result
        return seconds, context.cursor, result


def measure(count: int, scenes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_projects(root / "projects", count, scenes)
        home = root / "home"
        home.mkdir()
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            defs = build_definitions(
                projects=str(root / "projects"), storage=str(root / "storage"), renders=str(root / "renders")
            )
            first, cursor, _ = tick(defs, instance, None)
            full, _, _ = tick(defs, instance, None)
            idle, cursor, _ = tick(defs, instance, cursor)
            picture = root / "projects" / "p0000" / "images" / "p0000-s00.png"
            cv2.imwrite(str(picture), np.zeros((18, 32, 3), np.uint8))
            one, cursor, changed = tick(defs, instance, cursor)
            started = time.perf_counter()
            dg.evaluate_automation_conditions(defs=defs, instance=instance)
            automation = time.perf_counter() - started
            projects = len(instance.get_dynamic_partitions(partitions.projects.name))
            scene_keys = len(instance.get_dynamic_partitions(partitions.scenes.name))
            return {
                "projects": count,
                "scenes_per_project": scenes,
                "real_scenes": count * scenes,
                "keys_per_scene_asset": projects * scene_keys,
                "first_tick_s": round(first, 3),
                "full_compare_s": round(full, 3),
                "idle_tick_s": round(idle, 3),
                "one_change_tick_s": round(one, 3),
                "one_change_requests": len(getattr(changed, "run_requests", []) or []),
                "automation_s": round(automation, 3),
            }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--scenes", type=int, default=10)
    args = ap.parse_args()
    for count in args.counts:
        print(json.dumps(measure(count, args.scenes)), flush=True)


if __name__ == "__main__":
    main()
