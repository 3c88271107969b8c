"""Watching projects/: the projects sensor and the nightly re-scan.

Both compare each asset partition's *source fingerprint* (what it is made of on disk,
see `recipes`) with the one recorded on its latest materialization, and request runs for
what differs. The sensor starts only the assets whose own files changed while everything
upstream of them is current; declarative automation carries the results onward. The
nightly schedule does the same and also requests project assets that are still missing
(a run that failed, or a change made while the sensor was stopped).
"""


import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from parallax_pipeline import partitions
from parallax_pipeline.planning import Plan, plan_changes
from parallax_pipeline.recipes import SOURCE_FINGERPRINT
from parallax_pipeline.recovery import recover
from parallax_pipeline.resources import ArtifactStore, DepthModel, ProjectLibrary
from parallax_pipeline.store import cache_bytes

TICK_BUDGET_SECONDS = 20.0
"""Comparing stops after this long and the rest waits for the next tick: Dagster gives a
sensor evaluation 60 s, and a first tick over 1,000 projects takes longer than that."""

MARKS_PER_TICK = 500
"""Empty positions a tick marks at most (two events each; a SQLite instance writes about
60 events a second), the rest at the next ticks: one project far larger than the others
gives every other project that many more positions to mark."""

NIGHTLY_PROGRESS = "parallax/nightly_rescan_after"
"""Key of the last project the nightly re-scan compared, in the instance's key-value store."""

# Dagster's implicit asset job spans assets of different partitions definitions; a
# selection-based target would build one job per selection and reject that mix.
ASSET_JOB = "__ASSET_JOB"


@dg.sensor(
    job_name=ASSET_JOB,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Notices new or changed images, depth maps, audio and project files under projects/.",
)
def projects_sensor(
    context: dg.SensorEvaluationContext, projects: ProjectLibrary, depth_model: DepthModel, artifacts: ArtifactStore
):
    memory = SensorMemory.load(context.cursor)
    recovered = recover(context.instance)
    for message in recovered.messages():
        context.log.warning(message)
    folders = {folder.name: folder for folder in projects.project_folders()}
    states = {name: folder_state(folder) for name, folder in folders.items()}
    touched, after = _touched_projects(context.instance, memory.after, recovered.failed_runs)
    # An idle tick compares only what changed: a project whose files and recorded
    # materializations are as the last tick saw them has nothing new to request.
    changed = {name for name, state in states.items() if memory.folders.get(name) != state} | touched
    plan = plan_changes(
        projects,
        context.instance,
        depth_model.model,
        store=artifacts.open(),
        only=changed if memory.folders else None,
        remembered=memory.counts,
        marked=memory.marked,
        budget_s=TICK_BUDGET_SECONDS,
    )
    if plan.deferred:
        context.log.info(f"{len(plan.deferred)} project(s) left for the next tick (time budget)")
        # forgotten, so the next tick compares them whatever else happens meanwhile
        states = {name: state for name, state in states.items() if name not in plan.deferred}
    for problem in plan.problems:
        context.log.error(problem)
    for warning in plan.warnings:
        context.log.warning(warning)
    compared = (changed if memory.folders else set(folders)) - set(plan.deferred)
    notes = {name: digest for name, digest in memory.notes.items() if name in folders and name not in changed}
    problems = {name: texts for name, texts in memory.problems.items() if name in folders and name not in changed}
    problems.update({name: found for name, (found, _) in plan.notes_by_project.items() if found})
    observations = _problem_observations(plan, context.instance, memory.notes, notes, compared)
    plan.limit_marks(MARKS_PER_TICK)
    cursor = SensorMemory(states, plan.scene_counts, plan.marked, notes, problems, after).dump()
    partition_requests = plan.partition_requests()
    markers = plan.empty_markers()
    plan.forget_unused(artifacts.open())
    if not plan.run_requests and not partition_requests and not observations and not markers:
        summary = f"projects are up to date ({len(compared)} of {len(folders)} compared)"
        if problems:
            texts = [text for name in sorted(problems) for text in problems[name]]
            summary = f"{len(problems)} project(s) cannot be rendered:\n" + "\n".join(texts)
        context.update_cursor(cursor)  # a skipped tick still remembers what it saw
        return dg.SkipReason(summary)
    return dg.SensorResult(
        run_requests=plan.run_requests,
        dynamic_partitions_requests=partition_requests,
        asset_events=[*markers, *observations],
        cursor=cursor,
    )


@dataclass
class SensorMemory:
    """What the projects sensor saw at its last tick, kept in its cursor."""

    folders: dict[str, str] = field(default_factory=dict)
    """Project -> `folder_state` of its folder."""
    counts: dict[str, int] = field(default_factory=dict)
    """Project -> its scene count."""
    marked: dict[str, list[int]] = field(default_factory=dict)
    """Project -> [scene count, position count] when its empty positions were last marked."""
    notes: dict[str, str] = field(default_factory=dict)
    """Project -> digest of its problems and warnings as last shown in the UI."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Project -> why it cannot be rendered (projects that can are absent)."""
    after: int = 0
    """The newest materialization storage id seen."""

    @classmethod
    def load(cls, cursor: str | None) -> "SensorMemory":
        try:
            return cls(**json.loads(cursor)) if cursor else cls()
        except (TypeError, ValueError):
            return cls()  # a cursor of an earlier version: start afresh

    def dump(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def folder_state(folder: Path) -> str:
    """A digest of a project folder's files (names, sizes, modification times): it
    changes when any file is added, removed, replaced or edited (links followed)."""
    entries = []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(parent, name)
            try:
                stat = os.stat(path)
            except OSError:
                entries.append((path, -1, -1))
                continue
            entries.append((path, stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:20]


_ASSETS = ("depth_map", "parallax_clip", "composed_video", "mixed_audio", "final_video")


def _touched_projects(instance: dg.DagsterInstance, after: int, failed_runs: list[str]) -> tuple[set[str], int]:
    """Projects with a materialization newer than ``after`` (or a run recovery just
    failed), and the newest storage id seen."""
    touched, newest = set(), after
    for asset in _ASSETS:
        records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=after or None)
        if not after:  # the first tick compares every project: only the newest id is needed
            latest = instance.fetch_materializations(records_filter, limit=1, ascending=False).records
            newest = max([newest] + [record.storage_id for record in latest])
            continue
        page = None
        while page is None or page.has_more:
            page = instance.fetch_materializations(
                records_filter, limit=1000, cursor=page.cursor if page else None, ascending=True
            )
            for record in page.records:
                newest = max(newest, record.storage_id)
                if _is_empty_marker(record):
                    continue  # the sensor's own doing: nothing to compare
                if record.partition_key:
                    touched.add(record.partition_key.split("|")[0])
    for run_id in failed_runs:
        run = instance.get_run_by_id(run_id)
        partition = run.tags.get("dagster/partition", "") if run else ""
        if partition:
            touched.add(partition.split("|")[0])
    return touched, newest


def _is_empty_marker(record) -> bool:
    source = record.asset_materialization.metadata.get(SOURCE_FINGERPRINT)
    return source is not None and source.value == partitions.EMPTY


def _notes_digest(notes: tuple[list[str], list[str]]) -> str:
    return hashlib.sha256(json.dumps(notes).encode()).hexdigest()[:16]


_CLEAN = _notes_digest(([], []))


def _problem_observations(
    plan: Plan, instance: dg.DagsterInstance, seen: Mapping[str, str], now: dict[str, str], compared: set[str] | None
) -> list[dg.AssetObservation]:
    """Observations on each project's `final_video` that say what is wrong with the
    project (or that it is fine again), made only when that changed since the last tick,
    so the UI shows the problem on the asset the user looks at. ``now`` receives the
    digests of what was compared this tick."""
    known = set(instance.get_dynamic_partitions(partitions.projects.name))
    events = []
    for name in sorted(known):
        if compared is not None and name not in compared:
            continue
        notes = plan.notes_by_project.get(name, ([], []))
        now[name] = _notes_digest(notes)
        if seen.get(name, _CLEAN) == now[name]:
            continue
        problems, warnings = notes
        events.append(
            dg.AssetObservation(
                asset_key="final_video",
                partition=name,
                metadata={
                    "project_status": "cannot be rendered" if problems else "ok",
                    "problems": "\n".join(problems) or "none",
                    "unused_files": "\n".join(warnings) or "none",
                },
            )
        )
    return events


@dg.schedule(
    cron_schedule="0 3 * * *",
    job_name=ASSET_JOB,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly full re-scan of projects/: catches what the sensor missed and retries failed work.",
)
def nightly_rescan(
    context: dg.ScheduleEvaluationContext, projects: ProjectLibrary, depth_model: DepthModel, artifacts: ArtifactStore
):
    for message in recover(context.instance).messages():
        context.log.warning(message)
    date = context.scheduled_execution_time.strftime("%Y-%m-%d")
    # A schedule evaluation also has 60 s: a re-scan that runs out of time goes on from
    # where it stopped the next night (kept in the instance's key-value store).
    progress = context.instance.run_storage
    start_after = progress.get_cursor_values({NIGHTLY_PROGRESS}).get(NIGHTLY_PROGRESS) or None
    plan = plan_changes(
        projects,
        context.instance,
        depth_model.model,
        store=artifacts.open(),
        include_missing=True,
        run_key_prefix=f"nightly-{date}:",
        budget_s=TICK_BUDGET_SECONDS * 2,
        start_after=start_after,
        check_upstream=True,
    )
    progress.set_cursor_values({NIGHTLY_PROGRESS: plan.last_compared or ""})
    if plan.deferred:
        context.log.info(f"{len(plan.deferred)} project(s) left for the next night (time budget)")
    for problem in plan.problems:
        context.log.error(problem)
    # Schedules cannot return partition requests: register new keys directly.
    plan.limit_marks(MARKS_PER_TICK)
    plan.apply_partitions(context.instance)
    store = artifacts.open()
    plan.forget_unused(store)
    for leftover in store.sweep():
        context.log.info(f"removed {leftover.name}, left by a dead process")
    freed = store.prune(cache_bytes())
    if freed:
        context.log.info(f"removed {len(freed)} cached objects no partition uses (over PARALLAX_CACHE_GB)")
    return plan.run_requests or dg.SkipReason("projects are up to date")
