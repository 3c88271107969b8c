"""Run the pipeline to a settled state in this process, as the daemon would over time.

`dagster dev` runs the projects sensor and the automation sensor on a daemon. For a
one-command render (the README's demo) and for tests, `settle` does the same work in
order: evaluate the sensor, apply its partition changes, execute its run requests
against the instance, evaluate automation, execute its requests, and repeat until
nothing more is asked for. Every run is a real run in the instance's event log, so
the UI shows them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from parallax_pipeline.sensors import plan_changes

RUN_KEY_TAG = "dagster/run_key"


@dataclass
class SettleReport:
    runs: list[dg.DagsterRun] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return not self.failures


def _run_key_used(instance: dg.DagsterInstance, run_key: str | None) -> bool:
    # The daemon submits a run key once; doing the same keeps failed work from looping.
    return bool(run_key) and bool(instance.get_run_ids(dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1))


def execute(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest, log_level: str = "DEBUG"
) -> dg.DagsterRun:
    job = defs.resolve_implicit_global_asset_job_def()
    tags = dict(request.tags)
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
) -> SettleReport:
    """Bring every project under the projects root up to date.

    `include_missing` also requests project assets that are missing although their
    inputs are current (what the nightly re-scan does), so a render interrupted earlier
    is completed. `log_level` is the console level of the runs' own logs.
    """
    report = SettleReport()
    resources = defs.resources
    depth_model = resources["depth_model"].model

    def run_all(source: str, requests: list[dg.RunRequest]) -> int:
        for request in requests:
            keys = ", ".join(key.to_user_string() for key in request.asset_selection or [])
            log(f"[{source}] {keys} [{request.partition_key}]")
            run = execute(defs, instance, request, log_level)
            report.runs.append(run)
            if run.status != dg.DagsterRunStatus.SUCCESS:
                report.failures.append(f"{keys} [{request.partition_key}]: {_failure_message(instance, run)}")
                log(f"    failed: {report.failures[-1]}")
        return len(requests)

    # The first evaluation of automation only records the starting state.
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    for _ in range(max_rounds):
        plan = plan_changes(resources["projects"], instance, depth_model, include_missing=include_missing)
        report.problems = plan.problems
        plan.apply_partitions(instance)
        ran = run_all("sensor", [r for r in plan.run_requests if not _run_key_used(instance, r.run_key)])
        automation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = automation.cursor
        ran += run_all("automation", _automation_requests(defs, automation))
        if not ran:
            break
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
            return cause.message.strip()
    return f"run {run.run_id} ended {run.status.value}"
