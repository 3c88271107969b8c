"""Run the pipeline to a settled state in this process, as the daemon would over time.

`dagster dev` runs the projects sensor and the automation sensor on a daemon. For a
one-command render (the README's demo) and for tests, `settle` does the same work in
order: evaluate the sensor, apply its partition changes, submit its run requests to
the instance's run queue and wait for them, evaluate automation, submit its requests,
and repeat until nothing more is asked for. The runs go through the same queue and run
launcher as the daemon's (`run_queue`): independent scenes render side by side as the
queue's limits allow, and the UI shows each run with its origin.

Before it plans, and while it waits, it recovers from crashes (`recovery.recover`:
runs whose process is gone are failed and their pool slots freed) and clears what dead
processes left in the store's staging folder. A run that needs a pool slot held by a
live run stays queued, while this says at INFO level who holds the slot; Ctrl-C and
SIGTERM stop the wait and the runs submitted here. At the end it checks every project's final video against its inputs
(`freshness.stale_reasons`) and reports what is stale and why.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from parallax_pipeline.freshness import stale_reasons
from parallax_pipeline.recovery import RUN_KEY_TAG, pool_holders, process_tags, recover
from parallax_pipeline.run_queue import LAUNCHED_BY_TAG, PLANNED_BY_TAG, RunQueue, create_run
from parallax_pipeline.planning import plan_changes
from parallax_pipeline.spec import ProjectError
from parallax_pipeline.store import cache_bytes

RECOVERY_SECONDS = 1.0
"""How often a wait for runs also looks for runs whose process died."""
NOT_STARTED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.CANCELED,
)
"""Statuses of a run that has not started (or was canceled before it could be said to)."""


@dataclass
class SettleReport:
    runs: list[dg.DagsterRun] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stale: dict[str, list[str]] = field(default_factory=dict)
    """Project -> why its final video does not match its inputs (projects that match are absent)."""
    recovered: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return not self.failures

    @property
    def up_to_date(self) -> bool:
        """Every project has a final video that matches its current inputs."""
        return not self.stale and not self.problems


def _run_key_used(instance: dg.DagsterInstance, run_key: str | None) -> bool:
    # The daemon submits a run key once; doing the same keeps failed work from looping.
    return bool(run_key) and bool(instance.get_run_ids(dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1))


@contextmanager
def dynamic_partitions_read_once(instance: dg.DagsterInstance) -> Iterator[dg.DagsterInstance]:
    """``instance`` with each dynamic partitions definition's keys read from its storage
    once for the block: an evaluation of automation conditions asks for them again for
    every asset and condition it serialises (252 queries for the demo's definitions, 0.3
    of its 0.34 s), and nothing adds partitions during one."""
    read = instance.get_dynamic_partitions
    known: dict[str, tuple[Sequence[str], frozenset[str]]] = {}  # the keys, in order and as a set

    def keys(partitions_def_name: str) -> tuple[Sequence[str], frozenset[str]]:
        if partitions_def_name not in known:
            ordered = read(partitions_def_name)
            known[partitions_def_name] = (ordered, frozenset(ordered))
        return known[partitions_def_name]

    def get_dynamic_partitions(partitions_def_name: str) -> Sequence[str]:
        return keys(partitions_def_name)[0]

    def has_dynamic_partition(partitions_def_name: str, partition_key: str) -> bool:
        return partition_key in keys(partitions_def_name)[1]

    instance.get_dynamic_partitions = get_dynamic_partitions  # this object's, for the block
    instance.has_dynamic_partition = has_dynamic_partition
    try:
        yield instance
    finally:
        del instance.get_dynamic_partitions, instance.has_dynamic_partition


def _pools(assets_defs) -> set[str]:
    return {pool for assets in assets_defs if (pool := getattr(assets.node_def, "pool", None))}


def _create_pools(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """Give the pools the assets use their default limit now, from this one process: runs
    that start together and each create it race on PostgreSQL (dagster-io/dagster#33552:
    all but one fail with InFailedSqlTransaction)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    known = set(storage.get_concurrency_keys())
    for pool in sorted(_pools(defs.resolve_asset_graph().assets_defs) - known):  # a limit set by hand is kept
        storage.initialize_concurrency_limit_to_default(pool)


def _full_pools(instance: dg.DagsterInstance, pools: set[str]) -> dict[str, list[dg.DagsterRun]]:
    """Pool -> the runs holding all its slots, for those of ``pools`` that are full."""
    full = {}
    for pool in sorted(pools):
        info = instance.event_log_storage.get_concurrency_info(pool)
        limit = info.limit if info.limit is not None else info.slot_count
        holders = pool_holders(instance, pool, info)
        if limit and len(holders) >= limit:
            full[pool] = holders
    return full


def _run_tags(request: dg.RunRequest, launched_by: str, planned_by: str | None = None) -> dict[str, str]:
    """The tags a run of ``request`` is created with: who launched and planned it, its run
    key, and this process until the launcher names the run's own (a queued run whose
    submitter died is canceled by recovery)."""
    tags = {LAUNCHED_BY_TAG: launched_by, **process_tags()}
    if planned_by:
        tags[PLANNED_BY_TAG] = planned_by
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    return tags


def execute(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest, launched_by: str = "parallax run"
) -> dg.DagsterRun:
    """One request's run, through the instance's queue and launcher, waited for."""
    with RunQueue(instance) as queue:
        run = create_run(defs, instance, request, _run_tags(request, launched_by))
        queue.submit(run)
        return queue.wait([run.run_id])[0]


def settle(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    include_missing: bool = True,
    max_rounds: int = 12,
    log: Callable[[str], None] = lambda message: None,
    log_level: str = "DEBUG",
    retry_failed: bool = False,
    launched_by: str = "parallax run",
) -> SettleReport:
    """Bring every project under the projects root up to date.

    `include_missing` also requests project assets that are missing although their
    inputs are current (what the nightly re-scan does), so a render interrupted earlier
    is completed. `retry_failed` requests again, once, work whose earlier run failed (the
    command line does: the user asked for a render; the sensor does not, so a failing
    input does not fail on every tick). `log_level` is the console level of the runs'
    own logs; `launched_by` names the caller in the runs' tags.
    """
    report = SettleReport()
    _create_pools(defs, instance)
    with RunQueue(instance) as queue:
        _settle(defs, instance, queue, report, include_missing, max_rounds, log, log_level, retry_failed, launched_by)
    return report


def _settle(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    queue: RunQueue,
    report: SettleReport,
    include_missing: bool,
    max_rounds: int,
    log: Callable[[str], None],
    log_level: str,
    retry_failed: bool,
    launched_by: str,
) -> None:
    resources = defs.resources
    depth_model = resources["depth_model"].model
    store = resources["artifacts"].open()
    prefix = f"retry-{uuid.uuid4().hex[:12]}:" if retry_failed else ""

    def recover_now(sweep: bool = True) -> None:
        """Recovery of dead runs and, with ``sweep``, the store's files left by dead
        processes (a listing of its folders: once a round, not every second)."""
        swept = store.sweep() if sweep else []
        for message in recover(instance).messages() + [f"removed {p.name}, left by a dead process" for p in swept]:
            report.recovered.append(message)
            log(f"[recovery] {message}")

    def run_all(source: str, requests: list[dg.RunRequest]) -> int:
        submitted = []
        for request in requests:
            keys = ", ".join(key.to_user_string() for key in request.asset_selection or [])
            log(f"[{source}] {keys} [{request.partition_key}]")
            run = create_run(defs, instance, request, _run_tags(request, launched_by, source), log_level)
            queue.submit(run)
            pools = _pools(defs.resolve_assets_def(key) for key in request.asset_selection or [])
            submitted.append((f"{keys} [{request.partition_key}]", pools, run.run_id))
        said: set[str] = set()
        started: set[str] = set()
        last_recovery = time.monotonic()

        def while_waiting(runs: dict[str, dg.DagsterRun]) -> None:
            nonlocal last_recovery
            for name, _, run_id in submitted:
                if run_id not in started and runs[run_id].status not in NOT_STARTED:
                    started.add(run_id)
                    log(f"[{source}] {name}: run {run_id[:8]} started")
            if time.monotonic() - last_recovery <= RECOVERY_SECONDS:
                return
            # once a second, not every poll: a run that died frees its pool slots and its
            # place in the queue; who holds a full pool is said once
            recover_now(sweep=False)
            last_recovery = time.monotonic()
            unfinished = [(pools, runs[run_id]) for _, pools, run_id in submitted if not runs[run_id].is_finished]
            full = _full_pools(instance, set().union(*(pools for pools, _ in unfinished)))
            for pools, run in unfinished:
                for pool in sorted(pools & set(full)):
                    if run.run_id in {holder.run_id for holder in full[pool]}:
                        continue  # it holds a slot itself
                    names = ", ".join(f"{holder.run_id[:8]} ({holder.status.value})" for holder in full[pool])
                    wait = f"waiting for a slot of pool {pool!r}, held by run {names}"
                    if wait not in said:
                        said.add(wait)
                        log(f"    {wait}")

        finished = queue.wait([run_id for *_, run_id in submitted], on_poll=while_waiting)
        for (name, _, _), run in zip(submitted, finished):
            report.runs.append(run)
            if run.status != dg.DagsterRunStatus.SUCCESS:
                report.failures.append(f"{name}: {_failure_message(instance, run)}")
                log(f"    failed: {report.failures[-1]}")
        return len(requests)

    # The first evaluation of automation only records the starting state.
    recover_now()
    with dynamic_partitions_read_once(instance):
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    for round_number in range(max_rounds):
        if round_number:
            recover_now()  # a run of another process may have died meanwhile
        plan = plan_changes(
            resources["projects"],
            instance,
            depth_model,
            store=store,
            include_missing=include_missing,
            run_key_prefix=prefix,
            check_upstream=True,
        )
        report.problems = plan.problems
        if round_number == 0:
            report.warnings = plan.warnings
            for warning in plan.warnings:
                log(f"warning: {warning}")
        plan.apply_partitions(instance)
        plan.forget_unused(store)
        ran = run_all("sensor", [r for r in plan.run_requests if not _run_key_used(instance, r.run_key)])
        with dynamic_partitions_read_once(instance):
            automation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = automation.cursor
        ran += run_all("automation", _automation_requests(defs, automation))
        if not ran:
            break
    for folder in resources["projects"].project_folders():
        try:
            spec = resources["projects"].load(folder.name)
        except (ProjectError, OSError):
            continue  # reported among the problems
        reasons = stale_reasons(spec, instance, store, depth_model)
        if reasons:
            report.stale[spec.name] = reasons
    freed = store.prune(cache_bytes())
    if freed:
        log(f"[store] removed {len(freed)} cached objects no partition uses (over PARALLAX_CACHE_GB)")


def _automation_requests(defs: dg.Definitions, result) -> list[dg.RunRequest]:
    """One run per partition key, as the automation daemon groups what it requests."""
    by_partition: dict[str, list[dg.AssetKey]] = {}
    for asset_key in sorted(defs.resolve_all_asset_keys(), key=lambda key: key.to_user_string()):
        for partition in result.get_requested_partitions(asset_key):
            by_partition.setdefault(partition, []).append(asset_key)
    return [dg.RunRequest(asset_selection=keys, partition_key=key) for key, keys in by_partition.items()]


def _failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = record.dagster_event.step_failure_data.error
        if error is not None:
            cause = error
            while cause.cause is not None and "dagster" in cause.cls_name.lower():
                cause = cause.cause
            # "parallax_pipeline.engine.errors.MediaError: <file>: <problem>" -> "<file>: <problem>"
            return re.sub(rf"^[\w.]*\b{re.escape(cause.cls_name)}: ", "", cause.message.strip())
    return f"run {run.run_id} ended {run.status.value}"
