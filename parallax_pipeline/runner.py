"""Run the pipeline to a settled state in this process, as the daemon would over time.

`dagster dev` runs the projects sensor and the automation sensor on a daemon. For a
one-command render (the README's demo) and for tests, `settle` does the same work in
order: evaluate the sensor, apply its partition changes, execute its run requests
against the instance, evaluate automation, execute its requests, and repeat until
nothing more is asked for. Every run is a real run in the instance's event log, so
the UI shows them afterwards.

Before it plans, and before each run, it recovers from crashes (`recovery.recover`:
runs whose process is gone are failed and their pool slots freed) and clears what dead
processes left in the store's staging folder. A run that needs a pool slot held by a
live run waits here, where Ctrl-C and SIGTERM stop it, saying at INFO level who holds
the slot. At the end it checks every project's final video against its inputs
(`freshness.stale_reasons`) and reports what is stale and why.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from parallax_pipeline.freshness import stale_reasons
from parallax_pipeline.recovery import RUN_KEY_TAG, pool_holders, process_tags, recover
from parallax_pipeline.planning import plan_changes
from parallax_pipeline.spec import ProjectError
from parallax_pipeline.store import cache_bytes

POOL_POLL_SECONDS = 1.0


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


def _pools(defs: dg.Definitions, request: dg.RunRequest) -> set[str]:
    pools = set()
    for key in request.asset_selection or []:
        pool = getattr(defs.resolve_assets_def(key).node_def, "pool", None)
        if pool:
            pools.add(pool)
    return pools


def wait_for_pools(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest, log: Callable[[str], None]
) -> None:
    """Wait (interruptibly) until no live run holds the slots of the pools ``request``
    needs, freeing those of dead runs, and say who is waited for."""
    said = set()
    for pool in sorted(_pools(defs, request)):
        info = instance.event_log_storage.get_concurrency_info(pool)
        limit = info.limit if info.limit is not None else info.slot_count
        while limit:
            holders = pool_holders(instance, pool)
            if len(holders) < limit:
                break
            if recover(instance).freed_runs:  # a holder that died (or ended) frees its slots
                continue
            names = ", ".join(f"{run.run_id[:8]} ({run.status.value})" for run in holders)
            if names not in said:
                log(f"    waiting for a slot of pool {pool!r}, held by run {names}")
                said.add(names)
            time.sleep(POOL_POLL_SECONDS)


def execute(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest, log_level: str = "DEBUG"
) -> dg.DagsterRun:
    job = defs.resolve_implicit_global_asset_job_def()
    tags = {**request.tags, **process_tags()}  # lets a later process tell this run was orphaned
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    result = job.execute_in_process(
        instance=instance,
        partition_key=str(request.partition_key),
        asset_selection=list(request.asset_selection or []),
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
    return result.dagster_run


def settle(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    include_missing: bool = True,
    max_rounds: int = 12,
    log: Callable[[str], None] = lambda message: None,
    log_level: str = "DEBUG",
    retry_failed: bool = False,
) -> SettleReport:
    """Bring every project under the projects root up to date.

    `include_missing` also requests project assets that are missing although their
    inputs are current (what the nightly re-scan does), so a render interrupted earlier
    is completed. `retry_failed` requests again, once, work whose earlier run failed (the
    command line does: the user asked for a render; the sensor does not, so a failing
    input does not fail on every tick). `log_level` is the console level of the runs'
    own logs.
    """
    report = SettleReport()
    resources = defs.resources
    depth_model = resources["depth_model"].model
    store = resources["artifacts"].open()
    prefix = f"retry-{uuid.uuid4().hex[:12]}:" if retry_failed else ""

    def recover_now() -> None:
        for message in recover(instance).messages() + [f"removed {p.name}, left by a dead process" for p in store.sweep()]:
            report.recovered.append(message)
            log(f"[recovery] {message}")

    def run_all(source: str, requests: list[dg.RunRequest]) -> int:
        for request in requests:
            keys = ", ".join(key.to_user_string() for key in request.asset_selection or [])
            log(f"[{source}] {keys} [{request.partition_key}]")
            wait_for_pools(defs, instance, request, log)
            run = execute(defs, instance, request, log_level)
            report.runs.append(run)
            if run.status != dg.DagsterRunStatus.SUCCESS:
                report.failures.append(f"{keys} [{request.partition_key}]: {_failure_message(instance, run)}")
                log(f"    failed: {report.failures[-1]}")
        return len(requests)

    # The first evaluation of automation only records the starting state.
    recover_now()
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
    return report


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
