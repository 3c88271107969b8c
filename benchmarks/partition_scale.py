"""Many projects: partition keys per scene asset, sensor tick cost first and idle,
automation evaluation time and the UI's partition page query time, for N synthetic
projects x S scenes (tiny pictures and depth maps on disk, nothing rendered), each N
measured in one run on a fresh SQLite instance.

    .venv/bin/python benchmarks/partition_scale.py                # N = 10, 100; S = 10
    .venv/bin/python benchmarks/partition_scale.py --counts 10 100 1000
    .venv/bin/python benchmarks/partition_scale.py --counts 100 --largest 100

Printed per N (one JSON line): ``keys_per_scene_asset`` (the number of partitions of
the scene assets' partitions definition, ``partitions.project_scenes``, counted over the
instance's dynamic partitions whatever its dimensions are named) and ``real_scenes``;
``first_ticks`` and ``first_ticks_s`` (the ticks from no cursor until every project was
compared once, partitions registered; each stops at the sensor's time budget) and
``longest_tick_s``; ``full_compare_s`` (one uninterrupted comparison of every project, as
the nightly re-scan and `parallax run` make: what every idle tick cost before the sensor
kept a cursor); ``idle_tick_s`` (nothing changed since the last tick);
``one_change_tick_s`` (one picture replaced); ``automation_s`` (one evaluation of the
automation conditions); ``graphql_partition_page_cold_s`` and ``graphql_partition_page_s``
(the GraphQL query the UI's partitions page of the ``depth_map`` asset loads,
``PARTITION_PAGE_QUERY``: partition keys per dimension, partition statuses and partition
counts, run by dagster_graphql against a workspace over the same instance and
definitions, loaded in process; the first query, then one more after it, each in a fresh
request context as the webserver makes one per request). The query must return no
errors and count as many partitions as ``keys_per_scene_asset``, all of them materialized:
before it, every real scene's depth_map is recorded as made (run-less events, nothing
rendered), and the positions past a project's last scene are the sensor's empty marks
(``empty_marks_first_ticks``, two events per position: depth_map and parallax_clip).
``--largest L`` gives the first project L scenes: the cost of the scene-position bound
(every project gets L positions, those past its own scenes marked empty).
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
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.test.utils import execute_dagster_graphql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parallax_pipeline import partitions  # noqa: E402, I001
from parallax_pipeline.planning import plan_changes  # noqa: E402
from parallax_pipeline.sensors import SensorMemory  # noqa: E402
from parallax_pipeline.definitions import build_definitions  # noqa: E402  (first: it quiets Dagster's beta notices)

# What the UI's asset partitions page asks for one asset (its PartitionHealthQuery, with
# the partition counts the asset's live data carries), field names as in dagster_graphql.
PARTITION_PAGE_QUERY = """
query PartitionPageQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      id
      partitionKeysByDimension { name partitionKeys type }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
        ... on DefaultPartitionStatuses {
          materializedPartitions failedPartitions materializingPartitions
        }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey primaryDimEndKey primaryDimStartTime primaryDimEndTime
            secondaryDim {
              ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
              ... on DefaultPartitionStatuses {
                materializedPartitions failedPartitions materializingPartitions
              }
            }
          }
        }
      }
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    }
  }
}
"""

# The code location the workspace loads: the benchmark's definitions over its temp folders.
LOCATION_MODULE = """from parallax_pipeline.definitions import build_definitions

defs = build_definitions(projects={projects!r}, storage={storage!r}, renders={renders!r})
"""


def make_projects(root: Path, count: int, scenes: int, largest: int) -> None:
    rng = np.random.default_rng(0)
    for p in range(count):
        folder = root / f"p{p:04d}"
        (folder / "images").mkdir(parents=True)
        (folder / "depth").mkdir()
        (folder / "project.yaml").write_text("output: {resolution: [64, 36], fps: 24, quality: draft}\n")
        for s in range(max(scenes, largest) if p == 0 else scenes):
            scene = f"p{p:04d}-s{s:02d}"  # scene names of real projects differ from project to project
            cv2.imwrite(str(folder / "images" / f"{scene}.png"), rng.integers(0, 255, (18, 32, 3), np.uint8))
            depth = (rng.random((18, 32)) * 65535).astype(np.uint16)
            cv2.imwrite(str(folder / "depth" / f"{scene}.png"), depth)


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    sensor = defs.resolve_sensor_def("projects_sensor")
    started = time.perf_counter()
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources, cursor=cursor) as context:
        result = sensor(context)
        if isinstance(result, dg.SensorResult):
            # what the daemon does with the result, timed with the tick: it is its cost
            for request in result.dynamic_partitions_requests:
                if isinstance(request, dg.AddDynamicPartitionsRequest):
                    instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            for event in result.asset_events:
                instance.report_runless_asset_event(event)
            return time.perf_counter() - started, result.cursor, result
        return time.perf_counter() - started, context.cursor, result


def mark_scenes_made(instance: dg.DagsterInstance, defs: dg.Definitions, root: Path) -> int:
    """Record a depth_map materialization for every real scene (run-less, nothing is
    rendered), so the partition page shows what a rendered studio's does."""
    library = defs.resources["projects"]
    made = 0
    for folder in sorted((root / "projects").iterdir()):
        for index in range(len(library.load(folder.name).scenes)):
            key = str(partitions.scene_key(folder.name, index))
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="depth_map", partition=key))
            made += 1
    return made


def partition_page(process: WorkspaceProcessContext, keys: int) -> float:
    """Seconds for one partition page query of depth_map, in a request context of its own."""
    context = process.create_request_context()
    started = time.perf_counter()
    result = execute_dagster_graphql(context, PARTITION_PAGE_QUERY, {"assetKey": {"path": ["depth_map"]}})
    seconds = time.perf_counter() - started
    assert not result.errors, result.errors
    node = result.data["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    assert node["partitionStats"]["numPartitions"] == keys, (node["partitionStats"], keys)
    # every key is a real scene (made) or a position marked empty: none shows as missing
    assert node["partitionStats"]["numMaterialized"] == keys, (node["partitionStats"], keys)
    return seconds


def graphql_partition_page(root: Path, instance: dg.DagsterInstance, keys: int) -> tuple[float, float]:
    """The first (cold) and a second (warm) partition page query of depth_map."""
    module = root / "location.py"
    module.write_text(
        LOCATION_MODULE.format(
            projects=str(root / "projects"), storage=str(root / "storage"), renders=str(root / "renders")
        )
    )
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable, python_file=str(module), attribute="defs", working_directory=str(root)
        ),
        location_name="parallax",
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as process:
        entries = process.get_current_workspace().code_location_entries.values()
        errors = [entry.load_error for entry in entries if entry.load_error]
        assert not errors, errors
        cold = partition_page(process, keys)
        warm = partition_page(process, keys)
    return cold, warm


def measure(count: int, scenes: int, largest: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_projects(root / "projects", count, scenes, largest)
        home = root / "home"
        home.mkdir()
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            defs = build_definitions(
                projects=str(root / "projects"), storage=str(root / "storage"), renders=str(root / "renders")
            )
            # The first ticks compare every project, TICK_BUDGET_SECONDS at a time, and mark
            # empty positions, MARKS_PER_TICK at a time: until the cursor has seen every
            # folder and a tick marks nothing more.
            first_ticks, first, longest, markers, cursor, marking = 0, 0.0, 0.0, 0, None, True
            while cursor is None or len(SensorMemory.load(cursor).folders) < count or marking:
                seconds, cursor, result = tick(defs, instance, cursor)
                first_ticks, first, longest = first_ticks + 1, first + seconds, max(longest, seconds)
                events = getattr(result, "asset_events", None) or []
                marking = any(isinstance(e, dg.AssetMaterialization) for e in events)
                markers += len([e for e in events if isinstance(e, dg.AssetMaterialization)])
            started = time.perf_counter()
            plan_changes(defs.resources["projects"], instance, defs.resources["depth_model"].model)
            full = time.perf_counter() - started
            idle, cursor, _ = tick(defs, instance, cursor)
            picture = root / "projects" / "p0000" / "images" / "p0000-s00.png"
            cv2.imwrite(str(picture), np.zeros((18, 32, 3), np.uint8))
            one, cursor, changed = tick(defs, instance, cursor)
            started = time.perf_counter()
            dg.evaluate_automation_conditions(defs=defs, instance=instance)
            automation = time.perf_counter() - started
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                keys = partitions.project_scenes.get_num_partitions()
            real = mark_scenes_made(instance, defs, root)
            cold, warm = graphql_partition_page(root, instance, keys)
            return {
                "projects": count,
                "scenes_per_project": scenes,
                "largest_project": max(scenes, largest),
                "real_scenes": real,
                "keys_per_scene_asset": keys,
                "empty_marks_first_ticks": markers,
                "first_ticks": first_ticks,
                "first_ticks_s": round(first, 3),
                "longest_tick_s": round(longest, 3),
                "full_compare_s": round(full, 3),
                "idle_tick_s": round(idle, 3),
                "one_change_tick_s": round(one, 3),
                "one_change_requests": len(getattr(changed, "run_requests", []) or []),
                "automation_s": round(automation, 3),
                "graphql_partition_page_cold_s": round(cold, 3),
                "graphql_partition_page_s": round(warm, 3),
            }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--scenes", type=int, default=10)
    ap.add_argument("--largest", type=int, default=0, help="give the first project this many scenes (the bound's cost)")
    args = ap.parse_args()
    for count in args.counts:
        print(json.dumps(measure(count, args.scenes, args.largest)), flush=True)


if __name__ == "__main__":
    main()
