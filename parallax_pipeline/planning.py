"""What the projects folder asks for: the plan a sensor tick, the nightly re-scan or
`parallax run` carries out.

Each asset partition's *source fingerprint* (what it is made of on disk, see `recipes`)
is compared with the one recorded on its latest materialization; runs are planned for
what differs, partitions are registered and removed to match the folder, and the scene
positions past a project's last scene are marked empty (see `partitions`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from parallax_pipeline import partitions, recipes
from parallax_pipeline.freshness import Recorded, recorded
from parallax_pipeline.recipes import SOURCE_FINGERPRINT
from parallax_pipeline.resources import ProjectLibrary
from parallax_pipeline.spec import ProjectError, ProjectSpec
from parallax_pipeline.store import ContentStore

FILES_MISSING = "files missing"
"""Stands for the fingerprint of a partition whose stored files are gone."""


@dataclass
class Plan:
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    new_projects: list[str] = field(default_factory=list)
    gone_projects: list[str] = field(default_factory=list)
    new_positions: list[str] = field(default_factory=list)
    gone_positions: list[str] = field(default_factory=list)
    """Keys of the scene dimension (positions, see `partitions`) to add and to delete."""
    empty_positions: list[str] = field(default_factory=list)
    """Scene partitions past their project's last scene, to be marked empty."""
    notes_by_project: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """Project -> (its problems, its warnings)."""
    scene_counts: dict[str, int] = field(default_factory=dict)
    """Project -> how many scenes it has (what keeps the scene positions registered)."""
    marked: dict[str, list[int]] = field(default_factory=dict)
    """Project -> [its scene count, the position count] when its empty positions were marked."""
    deferred: list[str] = field(default_factory=list)
    """Projects left uncompared when the time budget ran out (the sensor's next tick takes them)."""
    last_compared: str | None = None
    """The last project compared (where a budgeted comparison goes on from)."""

    @property
    def problems(self) -> list[str]:
        """Projects that cannot be used (invalid project.yaml, missing files), in words."""
        return [text for name in sorted(self.notes_by_project) for text in self.notes_by_project[name][0]]

    @property
    def warnings(self) -> list[str]:
        """Files a project holds but does not use, and why."""
        return [text for name in sorted(self.notes_by_project) for text in self.notes_by_project[name][1]]

    def _changes(self):
        return (
            (partitions.projects, self.new_projects, self.gone_projects),
            (partitions.scene_positions, self.new_positions, self.gone_positions),
        )

    def partition_requests(self) -> list:
        requests = []
        for definition, added, removed in self._changes():
            if added:
                requests.append(definition.build_add_request(added))
            if removed:
                requests.append(definition.build_delete_request(removed))
        return requests

    def limit_marks(self, positions: int) -> None:
        """Mark at most ``positions`` empty positions now (each is two events to write); the
        projects whose marks are cut short are forgotten, so the next plan asks again."""
        kept, self.empty_positions = self.empty_positions[:positions], self.empty_positions[positions:]
        for key in self.empty_positions:
            self.marked.pop(partitions.split_scene_key(key)[0], None)
        self.empty_positions = kept

    def empty_markers(self) -> list[dg.AssetMaterialization]:
        """Materializations (no run, no artifact) of the positions past a project's last
        scene: the UI then shows a finished project as fully materialized, and saying what
        the partition is beats a grey "missing" that never goes away."""
        events = []
        for key in self.empty_positions:
            project, index = partitions.split_scene_key(key)
            for asset in ("depth_map", "parallax_clip"):
                events.append(
                    dg.AssetMaterialization(
                        asset_key=asset,
                        partition=key,
                        description=f"No scene: project {project!r} has {self.scene_counts[project]} scene(s).",
                        metadata={SOURCE_FINGERPRINT: partitions.EMPTY, "scene": f"none (position {index + 1} is unused)"},
                        tags={partitions.DATA_VERSION_TAG: partitions.EMPTY},
                    )
                )
        return events

    def forget_unused(self, store: ContentStore) -> None:
        """Drop the store's pointers of empty positions and deleted projects."""
        for key in self.empty_positions:
            for asset in ("depth_map", "parallax_clip"):
                store.forget(asset, key)
        for name in self.gone_projects:
            store.forget_project(name)

    def apply_partitions(self, instance: dg.DagsterInstance) -> None:
        """What a SensorResult does with `partition_requests` and `empty_markers`, for
        callers that are no sensor."""
        for definition, added, removed in self._changes():
            if added:
                instance.add_dynamic_partitions(definition.name, added)
            for key in removed:
                instance.delete_dynamic_partition(definition.name, key)
        for event in self.empty_markers():
            instance.report_runless_asset_event(event)


class _Planner:
    def __init__(
        self,
        instance: dg.DagsterInstance,
        store: ContentStore | None,
        depth_model: str,
        include_missing: bool,
        run_key_prefix: str,
        check_upstream: bool,
    ):
        self.instance = instance
        self.store = store
        self.depth_model = depth_model
        self.include_missing = include_missing
        self.prefix = run_key_prefix
        self.check_upstream = check_upstream
        self._records: dict[tuple[str, str], Recorded | None] = {}

    def _recorded(self, asset: str, partition: str) -> Recorded | None:
        if (asset, partition) not in self._records:
            self._records[asset, partition] = recorded(self.instance, asset, partition)
        return self._records[asset, partition]

    def _behind(self, asset: str, partition: str, source: str, upstream: list[Recorded | None]) -> bool:
        """Whether the partition was made from other versions of its upstream artifacts
        than the ones recorded now (its own inputs unchanged)."""
        found = self._recorded(asset, partition)
        if not self.check_upstream or not upstream or found is None:
            return False  # nothing upstream (the mix's recipe is its source), or never made
        if any(up is None or up.recipe is None for up in upstream):
            return False
        return found.recipe != recipes.combine(source, *(up.recipe for up in upstream))

    def _latest(self, asset: str, partition: str) -> tuple[str | None, int]:
        """The recorded source fingerprint of an asset partition and its record's storage
        id; no fingerprint when the store lost its files (dropped as damaged, removed)."""
        found = self._recorded(asset, partition)
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
        for index, scene in enumerate(spec.scenes):
            key = partitions.scene_key(spec.name, index)
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
        clips = [self._recorded("parallax_clip", str(partitions.scene_key(spec.name, i))) for i in range(len(spec.scenes))]
        upstream = {"mixed_audio": [], "composed_video": clips}
        requested = set()
        for asset, source, upstream_current in checks:
            previous, storage_id = self._latest(asset, spec.name)
            missing_ok = asset == "mixed_audio" or self.include_missing
            changed = previous != source or self._behind(asset, spec.name, source, upstream[asset])
            if upstream_current and changed and (previous is not None or missing_ok):
                requests.append(self._request([asset], spec.name, [(asset, source, storage_id)]))
                requested.add(asset)
        if not scenes_requested and not requested:
            source = recipes.final_video_source(spec)
            previous, storage_id = self._latest("final_video", spec.name)
            made_from = [self._recorded("composed_video", spec.name), self._recorded("mixed_audio", spec.name)]
            changed = previous != source or self._behind("final_video", spec.name, source, made_from)
            if changed and (previous is not None or self.include_missing):
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
    remembered: Mapping[str, int] | None = None,
    marked: Mapping[str, list[int]] | None = None,
    budget_s: float | None = None,
    start_after: str | None = None,
    check_upstream: bool = False,
) -> Plan:
    """Compare the projects folder with what the instance has recorded (and, given the
    store, with the artifacts it still holds).

    ``only`` limits the comparison to those projects (the sensor's idle ticks: what
    changed); the others keep the scene counts ``remembered`` for them, so their
    partitions stay registered. ``marked`` says which empty positions were marked at the
    last tick (see `Plan.marked`); without it the instance is asked. Past ``budget_s``
    seconds the projects not compared yet are left for later (`Plan.deferred`); projects
    are compared in name order, from the one after ``start_after`` round to it.
    ``check_upstream`` also requests a project asset made from earlier versions of its
    upstream artifacts (its own inputs unchanged): the catch-up `parallax run` and the
    nightly re-scan make, since a settle's automation starts afresh and may not have seen
    a scene change that landed as the previous settle ended; the sensor leaves that to
    the daemon's automation, whose cursor saw it."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    plan = Plan()
    remembered = remembered or {}
    planner = _Planner(instance, store, depth_model, include_missing, run_key_prefix, check_upstream)
    known_projects = set(instance.get_dynamic_partitions(partitions.projects.name))
    known_positions = instance.get_dynamic_partitions(partitions.scene_positions.name)
    folders = {folder.name: folder for folder in library.project_folders()}
    unknown_count = False  # a broken project never loaded: keep every position registered
    names = sorted(folders)
    if start_after is not None:  # go round from where the last budgeted comparison stopped
        names = [name for name in names if name > start_after] + [name for name in names if name <= start_after]
    for name in names:
        if only is not None and name not in only and name in remembered:
            plan.scene_counts[name] = remembered[name]
            continue
        if deadline is not None and time.monotonic() > deadline and plan.notes_by_project:
            plan.deferred.append(name)
            if name in remembered:
                plan.scene_counts[name] = remembered[name]
            elif name in known_projects:
                unknown_count = True
            continue
        try:
            spec = library.load(name)
        except (ProjectError, OSError) as error:
            # One broken project must not stop the others; its partitions stay registered.
            plan.last_compared = name
            plan.notes_by_project[name] = ([str(error)], [])
            if name in remembered:
                plan.scene_counts[name] = remembered[name]
            elif name in known_projects:
                unknown_count = True
            continue
        plan.last_compared = name
        plan.notes_by_project[name] = ([], [f"{spec.root}: {warning}" for warning in spec.warnings])
        if name not in known_projects:
            plan.new_projects.append(name)
        plan.scene_counts[name] = len(spec.scenes)
        scene_requests = planner.scene_requests(spec)
        plan.run_requests += scene_requests
        plan.run_requests += planner.project_requests(spec, scenes_requested=bool(scene_requests))
    plan.gone_projects = sorted(known_projects - set(folders))
    top = max(plan.scene_counts.values(), default=0)
    if unknown_count:
        top = max(top, len(known_positions))
    wanted = partitions.position_keys(top)
    plan.new_positions = [key for key in wanted if key not in set(known_positions)]
    plan.gone_positions = [key for key in known_positions if key not in set(wanted)]
    _plan_empty_positions(plan, instance, top, marked)
    return plan


def _plan_empty_positions(plan: Plan, instance: dg.DagsterInstance, top: int, marked: Mapping[str, list[int]] | None) -> None:
    """Positions past each project's last scene, up to ``top``, not marked empty yet."""
    unknown: dict[str, list[str]] = {}  # project -> its empty positions the last tick did not mark
    for name, count in sorted(plan.scene_counts.items()):
        plan.marked[name] = [count, top]
        if count >= top:
            continue
        before = (marked or {}).get(name)
        if before is not None and before[0] == count:  # the last tick marked [count, before[1])
            plan.empty_positions += [str(partitions.scene_key(name, i)) for i in range(max(count, before[1]), top)]
        else:
            unknown[name] = [str(partitions.scene_key(name, i)) for i in range(count, top)]
    if unknown:  # not remembered, or the scene count changed: one query for their latest marks
        latest = instance.event_log_storage.get_latest_tags_by_partition(
            dg.AssetKey("parallax_clip"),
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            [partitions.DATA_VERSION_TAG],
            asset_partitions=[key for keys in unknown.values() for key in keys],
        )
        for keys in unknown.values():
            marks = {key for key in keys if latest.get(key, {}).get(partitions.DATA_VERSION_TAG) == partitions.EMPTY}
            plan.empty_positions += [key for key in keys if key not in marks]
