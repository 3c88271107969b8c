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

from parallax_pipeline import partitions, recipes
from parallax_pipeline.freshness import recorded
from parallax_pipeline.recovery import recover
from parallax_pipeline.resources import ArtifactStore, DepthModel, ProjectLibrary
from parallax_pipeline.spec import ProjectError, ProjectSpec
from parallax_pipeline.store import ContentStore, cache_bytes

FILES_MISSING = "files missing"
"""Stands for the fingerprint of a partition whose stored files are gone."""


@dataclass
class Plan:
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    new_projects: list[str] = field(default_factory=list)
    new_scenes: list[str] = field(default_factory=list)
    gone_projects: list[str] = field(default_factory=list)
    gone_scenes: list[str] = field(default_factory=list)
    notes_by_project: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """Project -> (its problems, its warnings)."""
    scenes_by_project: dict[str, list[str]] = field(default_factory=dict)
    """Project -> the scene ids it uses (what keeps a scene partition registered)."""

    @property
    def problems(self) -> list[str]:
        """Projects that cannot be used (invalid project.yaml, missing files), in words."""
        return [text for name in sorted(self.notes_by_project) for text in self.notes_by_project[name][0]]

    @property
    def warnings(self) -> list[str]:
        """Files a project holds but does not use, and why."""
        return [text for name in sorted(self.notes_by_project) for text in self.notes_by_project[name][1]]

    def partition_requests(self) -> list:
        requests = []
        for definition, added, removed in (
            (partitions.projects, self.new_projects, self.gone_projects),
            (partitions.scenes, self.new_scenes, self.gone_scenes),
        ):
            if added:
                requests.append(definition.build_add_request(added))
            if removed:
                requests.append(definition.build_delete_request(removed))
        return requests

    def apply_partitions(self, instance: dg.DagsterInstance) -> None:
        """What a SensorResult does with `partition_requests`, for callers that are no sensor."""
        for definition, added, removed in (
            (partitions.projects, self.new_projects, self.gone_projects),
            (partitions.scenes, self.new_scenes, self.gone_scenes),
        ):
            if added:
                instance.add_dynamic_partitions(definition.name, added)
            for key in removed:
                instance.delete_dynamic_partition(definition.name, key)


class _Planner:
    def __init__(
        self,
        instance: dg.DagsterInstance,
        store: ContentStore | None,
        depth_model: str,
        include_missing: bool,
        run_key_prefix: str,
    ):
        self.instance = instance
        self.store = store
        self.depth_model = depth_model
        self.include_missing = include_missing
        self.prefix = run_key_prefix

    def _latest(self, asset: str, partition: str) -> tuple[str | None, int]:
        """The recorded source fingerprint of an asset partition and its record's storage
        id; no fingerprint when the store lost its files (dropped as damaged, removed)."""
        found = recorded(self.instance, asset, partition)
        if found is None:
            return None, 0
        if self.store is not None and not self.store.has(asset, partition):
            return FILES_MISSING, found.storage_id  # made once: rebuild it, as after an edit
        return found.source, found.storage_id

    def _request(self, assets: list[str], partition_key, stale: list[tuple[str, str, int]]) -> dg.RunRequest:
        # The key changes with each new materialization, so a failed run is not retried
        # every tick, yet a later change back to an earlier state still runs.
        marks = ",".join(f"{asset}@{storage_id}>{source}" for asset, source, storage_id in stale)
        return dg.RunRequest(
            run_key=f"{self.prefix}{partition_key}:{marks}",
            asset_selection=[dg.AssetKey(asset) for asset in assets],
            partition_key=partition_key,
            tags={"parallax/reason": "inputs changed on disk"},
        )

    def scene_requests(self, spec: ProjectSpec) -> list[dg.RunRequest]:
        requests = []
        for scene in spec.scenes:
            key = partitions.scene_key(spec.name, scene.id)
            sources = {
                "depth_map": recipes.depth_map_source(scene, self.depth_model),
                "parallax_clip": recipes.parallax_clip_source(spec, scene),
            }
            stale = []
            for asset, source in sources.items():
                previous, storage_id = self._latest(asset, str(key))
                # A clip is made from the depth map: when the map is redone, so is the clip.
                if stale or previous != source:
                    stale.append((asset, source, storage_id))
            if stale:
                requests.append(self._request([asset for asset, _, _ in stale], key, stale))
        return requests

    def project_requests(self, spec: ProjectSpec, scenes_requested: bool) -> list[dg.RunRequest]:
        requests = []
        checks = [
            ("mixed_audio", recipes.mixed_audio_source(spec), True),
            ("composed_video", recipes.composed_video_source(spec), not scenes_requested),
        ]
        requested = set()
        for asset, source, upstream_current in checks:
            previous, storage_id = self._latest(asset, spec.name)
            missing_ok = asset == "mixed_audio" or self.include_missing
            if upstream_current and previous != source and (previous is not None or missing_ok):
                requests.append(self._request([asset], spec.name, [(asset, source, storage_id)]))
                requested.add(asset)
        if not scenes_requested and not requested:
            source = recipes.final_video_source(spec)
            previous, storage_id = self._latest("final_video", spec.name)
            if previous != source and (previous is not None or self.include_missing):
                requests.append(self._request(["final_video"], spec.name, [("final_video", source, storage_id)]))
        return requests


def plan_changes(
    library: ProjectLibrary,
    instance: dg.DagsterInstance,
    depth_model: str,
    *,
    store: ContentStore | None = None,
    include_missing: bool = False,
    run_key_prefix: str = "",
    only: set[str] | None = None,
    remembered: Mapping[str, list[str]] | None = None,
) -> Plan:
    """Compare the projects folder with what the instance has recorded (and, given the
    store, with the artifacts it still holds).

    ``only`` limits the comparison to those projects (the sensor's idle ticks: what
    changed); the others keep the scenes ``remembered`` for them, so their partitions
    stay registered."""
    plan = Plan()
    planner = _Planner(instance, store, depth_model, include_missing, run_key_prefix)
    known_projects = set(instance.get_dynamic_partitions(partitions.projects.name))
    known_scenes = set(instance.get_dynamic_partitions(partitions.scenes.name))
    folders = {folder.name: folder for folder in library.project_folders()}
    scenes_in_use: set[str] = set()
    for name in sorted(folders):
        if only is not None and name not in only and name in (remembered or {}):
            plan.scenes_by_project[name] = list(remembered[name])
            scenes_in_use |= set(remembered[name])
            continue
        try:
            spec = library.load(name)
        except (ProjectError, OSError) as error:
            # One broken project must not stop the others; its scenes stay registered.
            plan.notes_by_project[name] = ([str(error)], [])
            plan.scenes_by_project[name] = sorted(known_scenes)
            scenes_in_use |= known_scenes
            continue
        plan.notes_by_project[name] = ([], [f"{spec.root}: {warning}" for warning in spec.warnings])
        if name not in known_projects:
            plan.new_projects.append(name)
        plan.scenes_by_project[name] = [scene.id for scene in spec.scenes]
        for scene in spec.scenes:
            scenes_in_use.add(scene.id)
            if scene.id not in known_scenes and scene.id not in plan.new_scenes:
                plan.new_scenes.append(scene.id)
        scene_requests = planner.scene_requests(spec)
        plan.run_requests += scene_requests
        plan.run_requests += planner.project_requests(spec, scenes_requested=bool(scene_requests))
    plan.gone_projects = sorted(known_projects - set(folders))
    plan.gone_scenes = sorted(known_scenes - scenes_in_use)
    return plan


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
        remembered=memory.scenes,
    )
    for problem in plan.problems:
        context.log.error(problem)
    for warning in plan.warnings:
        context.log.warning(warning)
    compared = changed if memory.folders else None
    notes = {name: digest for name, digest in memory.notes.items() if name in folders and name not in changed}
    problems = {name: texts for name, texts in memory.problems.items() if name in folders and name not in changed}
    problems.update({name: found for name, (found, _) in plan.notes_by_project.items() if found})
    observations = _problem_observations(plan, context.instance, memory.notes, notes, compared)
    cursor = SensorMemory(states, plan.scenes_by_project, notes, problems, after).dump()
    partition_requests = plan.partition_requests()
    if not plan.run_requests and not partition_requests and not observations:
        summary = f"projects are up to date ({len(changed)} of {len(folders)} compared)"
        if problems:
            texts = [text for name in sorted(problems) for text in problems[name]]
            summary = f"{len(problems)} project(s) cannot be rendered:\n" + "\n".join(texts)
        context.update_cursor(cursor)  # a skipped tick still remembers what it saw
        return dg.SkipReason(summary)
    return dg.SensorResult(
        run_requests=plan.run_requests,
        dynamic_partitions_requests=partition_requests,
        asset_events=observations,
        cursor=cursor,
    )


@dataclass
class SensorMemory:
    """What the projects sensor saw at its last tick, kept in its cursor."""

    folders: dict[str, str] = field(default_factory=dict)
    """Project -> `folder_state` of its folder."""
    scenes: dict[str, list[str]] = field(default_factory=dict)
    """Project -> its scene ids."""
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
                if record.partition_key:
                    touched.add(record.partition_key.split("|")[0])
    for run_id in failed_runs:
        run = instance.get_run_by_id(run_id)
        partition = run.tags.get("dagster/partition", "") if run else ""
        if partition:
            touched.add(partition.split("|")[0])
    return touched, newest


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
    plan = plan_changes(
        projects,
        context.instance,
        depth_model.model,
        store=artifacts.open(),
        include_missing=True,
        run_key_prefix=f"nightly-{date}:",
    )
    for problem in plan.problems:
        context.log.error(problem)
    # Schedules cannot return partition requests: register new keys directly.
    plan.apply_partitions(context.instance)
    store = artifacts.open()
    for leftover in store.sweep():
        context.log.info(f"removed {leftover.name}, left by a dead process")
    freed = store.prune(cache_bytes())
    if freed:
        context.log.info(f"removed {len(freed)} cached objects no partition uses (over PARALLAX_CACHE_GB)")
    return plan.run_requests or dg.SkipReason("projects are up to date")
