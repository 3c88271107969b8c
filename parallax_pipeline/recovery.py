"""Runs orphaned by a crash: found, marked failed, their pool slots freed.

With the default run launcher a run whose process is killed stays STARTED for ever and
keeps the concurrency-pool slots of its steps, so with ``gpu`` limited to one slot every
later depth step would wait for ever. Dagster's run monitoring cannot see such a run.
Runs that `parallax run` queues carry the process that queued them in their tags
(`process_tags`), and once launched the process that runs them; `recover` checks those
processes, fails the runs whose process is gone, cancels the queued runs whose
`parallax run` is gone, frees the slots of every run that has ended, and retires such
runs' run keys so the next `parallax run`, sensor tick or automation tick requests the
work again.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

import dagster as dg

from parallax_pipeline.engine.files import process_alive, process_stat

PID_TAG = "parallax/pid"
HOST_TAG = "parallax/host"
STARTED_TAG = "parallax/process_started"
RUN_KEY_TAG = "dagster/run_key"

_IN_PROGRESS = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
_ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _process_start(pid: int) -> str:
    """When a process started (clock ticks since boot, from /proc), so a reused pid is not
    taken for the process that died; empty where /proc is not there."""
    fields = process_stat(pid)
    return fields[19] if len(fields) > 19 else ""


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Tags naming a process (this one by default), for the runs it executes."""
    pid = pid or os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), STARTED_TAG: _process_start(pid)}


def run_process_alive(run: dg.DagsterRun) -> bool | None:
    """Whether the process a run names in its tags still runs; None when the run names
    none or another machine's (nothing can be said from here)."""
    tags = run.tags
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return None
    pid = int(tags[PID_TAG])
    if not process_alive(pid):
        return False
    started = tags.get(STARTED_TAG, "")
    return not started or _process_start(pid) == started


@dataclass
class Recovery:
    failed_runs: list[str] = field(default_factory=list)
    """Runs marked failed because their process is gone."""
    freed_runs: list[str] = field(default_factory=list)
    """Runs whose pool slots were freed (they had ended, or their process was gone)."""
    canceled_runs: list[str] = field(default_factory=list)
    """Queued runs canceled because the process that queued them is gone."""
    assigned_steps: list[str] = field(default_factory=list)
    """Steps that waited beside a free pool slot, given it ("pool: run/step")."""

    def messages(self) -> list[str]:
        return [f"run {run_id} was orphaned (its process is gone): marked failed" for run_id in self.failed_runs] + [
            f"run {run_id} was left queued by a process that is gone: canceled" for run_id in self.canceled_runs
        ] + [
            f"run {run_id} had ended but held pool slots: freed" for run_id in self.freed_runs
            if run_id not in self.failed_runs
        ] + [f"step {step} waited beside a free slot of its pool: given it" for step in self.assigned_steps]


def _retire_run_key(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    key = run.tags.get(RUN_KEY_TAG)
    if key:  # let the same work be requested again
        instance.add_run_tags(run.run_id, {RUN_KEY_TAG: f"{key}#orphaned:{run.run_id[:8]}"})


def recover(instance: dg.DagsterInstance) -> Recovery:
    """Fail the in-progress runs whose process is gone and free every pool slot held by
    a run that is no longer running."""
    found = Recovery()
    for run in instance.get_runs(dg.RunsFilter(statuses=[*_IN_PROGRESS, dg.DagsterRunStatus.QUEUED])):
        if run_process_alive(run) is not False:
            continue
        if run.status == dg.DagsterRunStatus.QUEUED:  # queued by a `parallax run` that is gone
            instance.report_run_canceled(run, message=f"Parallax Studio: the process that queued {run.run_id} is gone")
            found.canceled_runs.append(run.run_id)
        else:
            instance.report_run_failed(run, message=f"Parallax Studio: the process running {run.run_id} is gone")
            found.failed_runs.append(run.run_id)
        _retire_run_key(instance, run)
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return found
    infos = {pool: storage.get_concurrency_info(pool) for pool in storage.get_concurrency_keys()}
    holders = set()
    for info in infos.values():
        holders |= {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in _ENDED:
            storage.free_concurrency_slots_for_run(run_id)
            found.freed_runs.append(run_id)
    if found.freed_runs:  # freeing changed the pools
        infos = {pool: storage.get_concurrency_info(pool) for pool in infos}
    found.assigned_steps = _assign_stranded_steps(storage, infos)
    return found


def _assign_stranded_steps(storage, infos: dict) -> list[str]:
    """Give free pool slots to steps left waiting beside them. A step that queues for a
    slot just as the holder frees it is added after the free handed the slot on, and
    Dagster assigns waiting steps only when a slot is freed (or its limit set): it would
    wait for ever beside a free slot. ``infos``: pool -> its concurrency info now.
    Returns "pool: run/step" of the steps assigned."""
    assigned = []
    for pool, info in infos.items():
        claimed = {(slot.run_id, slot.step_key) for slot in info.claimed_slots}
        promised = [step for step in info.pending_steps if step.assigned_timestamp is not None
                    and (step.run_id, step.step_key) not in claimed]
        waiting = sorted((step for step in info.pending_steps if step.assigned_timestamp is None),
                         key=lambda step: (-(step.priority or 0), step.enqueued_timestamp))
        free = info.slot_count - len(info.claimed_slots) - len(promised)
        for step in waiting[: max(free, 0)]:
            storage.assign_pending_steps([pool])  # the head of the pool's queue: ``step``
            assigned.append(f"{pool}: {step.run_id[:8]}/{step.step_key}")
    return assigned


def pool_holders(instance: dg.DagsterInstance, pool: str, info=None) -> list[dg.DagsterRun]:
    """The runs holding slots of ``pool`` now (``info``: its concurrency info, when the
    caller has read it already)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    info = info or storage.get_concurrency_info(pool)
    runs = (instance.get_run_by_id(run_id) for run_id in sorted({slot.run_id for slot in info.claimed_slots}))
    return [run for run in runs if run is not None]
