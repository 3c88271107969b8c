"""Runs through the instance's run queue and launcher, as the daemon of `dg dev` runs them.

`settle` plans like the sensors do and hands each run request to Dagster: the run is
created with its partition, asset selection and origin tags, submitted to the
instance's run coordinator (the `QueuedRunCoordinator` of the embedded default, with
its run limits and pools) and launched by the instance's run launcher
(`run_launcher.PreloadedRunLauncher`). Nothing here schedules: while no daemon serves
the queue, `RunQueue` drives Dagster's own queue daemon (`QueuedRunCoordinatorDaemon`)
one iteration at a time, which launches as many queued runs as the limits allow, so
independent scenes render side by side.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.run_coordinator import QueuedRunCoordinator

from parallax_pipeline.fork_server import start_fork_server
from parallax_pipeline.definitions import DEFINITIONS_TAG
from parallax_pipeline.run_launcher import PreloadedRunLauncher, run_job

LAUNCHED_BY_TAG = "parallax/launched_by"
"""Who launched the run: ``parallax run`` or ``studio`` (the daemon's runs carry Dagster's
own sensor and automation tags instead)."""
PLANNED_BY_TAG = "parallax/planned_by"
"""What asked for it: ``sensor`` (the projects sensor's planning) or ``automation``."""

POLL_SECONDS = 0.2
"""How often a wait reads the runs where it cannot tell when one ends (runs launched by
another launcher: Celery, Kubernetes, Docker)."""
IDLE_SECONDS = 1.0
"""The longest a wait sleeps when the run launcher tells it as soon as a run's process
ends (`PreloadedRunLauncher.wait_for_exit`): then only runs of other processes, or a
crash (recovery looks once a second), need the next look."""
CODE_LOCATION = "parallax_pipeline.definitions"
"""The code location's name in `workspace.yaml`, so the UI files the runs under it."""


class QueueError(RuntimeError):
    """The instance cannot run the queue the way `parallax run` needs."""


def check_instance(instance: dg.DagsterInstance) -> None:
    if not isinstance(instance.run_launcher, PreloadedRunLauncher):
        raise QueueError(
            f"{instance.root_directory or 'the instance'}: its dagster.yaml must name the run launcher"
            " parallax_pipeline.run_launcher.PreloadedRunLauncher (see deploy/dagster-postgres.yaml);"
            f" it names {type(instance.run_launcher).__name__}"
        )


def create_run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    request: dg.RunRequest,
    tags: dict[str, str],
    log_level: str = "DEBUG",
) -> dg.DagsterRun:
    """A NOT_STARTED run of ``request``, planned in this process exactly as
    `execute_in_process` plans one, that the launcher's process rebuilds from its tags."""
    settings = defs.metadata[DEFINITIONS_TAG].value
    keys = list(request.asset_selection or [])
    job = run_job(defs, keys)
    partition_key = str(request.partition_key) if request.partition_key is not None else None
    run_config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if partition_key and job.partitioned_config:
        run_config = {**job.partitioned_config.get_run_config_for_partition_key(partition_key), **run_config}
    run_tags = merge_run_tags(
        job_def=job,
        partition_key=partition_key,
        tags={**request.tags, **tags, DEFINITIONS_TAG: json.dumps(settings, sort_keys=True)},
        asset_selection=keys,
        instance=instance,
        run_config=run_config,
    )
    plan = create_execution_plan(InMemoryJob(job), run_config=run_config, instance_ref=instance.get_ref())
    return instance.create_run_for_job(
        job_def=job,
        execution_plan=plan,
        run_config=run_config,
        tags=run_tags,
        asset_selection=frozenset(keys),
        status=dg.DagsterRunStatus.NOT_STARTED,
        remote_job_origin=_remote_origin(job.name),
        job_code_origin=_python_origin(job.name),
    )


def _python_origin(job_name: str):
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

    pointer = ModuleCodePointer(module=CODE_LOCATION, fn_name="defs", working_directory=os.getcwd())
    return JobPythonOrigin(job_name, RepositoryPythonOrigin(sys.executable, pointer, None, None, None))


def _remote_origin(job_name: str):
    from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(module_name=CODE_LOCATION, attribute="defs"),
        location_name=CODE_LOCATION,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)


class RunQueue:
    """Submits runs to the instance's queue and waits for them, launching queued runs
    with Dagster's queue daemon while no daemon process does."""

    def __init__(self, instance: dg.DagsterInstance):
        check_instance(instance)
        start_fork_server()
        self.instance = instance
        self._queued = isinstance(instance.run_coordinator, QueuedRunCoordinator)
        self._daemon = None
        self._workspace = None
        self._submitted: list[str] = []

    def submit(self, run: dg.DagsterRun) -> None:
        """Queue ``run`` and launch what the queue allows now (the first runs start while
        later ones are still being planned)."""
        self._submitted.append(run.run_id)
        self.instance.submit_run(run.run_id, workspace=None)
        self.launch_queued()

    def _daemon_serves_queue(self) -> bool:
        """A `dg dev` (or `dagster-daemon`) on this instance dequeues runs itself; two
        dequeuers could launch one run twice."""
        from dagster._daemon.controller import get_daemon_statuses

        kind = "QUEUED_RUN_COORDINATOR"
        return get_daemon_statuses(self.instance, [kind], ignore_errors=True)[kind].healthy is True

    def launch_queued(self) -> None:
        """One iteration of Dagster's queue daemon: launch what the limits allow."""
        if not self._queued:
            return  # the instance's coordinator launched the runs when they were submitted
        if self._daemon is None:
            if self._daemon_serves_queue():
                self._queued = False
                return
            from dagster._core.workspace.context import WorkspaceProcessContext
            from dagster._core.workspace.load_target import EmptyWorkspaceTarget
            from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

            self._daemon = QueuedRunCoordinatorDaemon(interval_seconds=POLL_SECONDS)
            self._workspace = WorkspaceProcessContext(self.instance, EmptyWorkspaceTarget())
        for _ in self._daemon.run_iteration(self._workspace):
            pass

    def wait(
        self, run_ids: Iterable[str], on_poll: Callable[[dict[str, dg.DagsterRun]], None] = lambda runs: None
    ) -> list[dg.DagsterRun]:
        """Launch and wait until every run in ``run_ids`` has finished (returned in that
        order); ``on_poll`` gets the runs as last read (run id -> run) between checks
        (crash recovery, progress)."""
        waiting = list(run_ids)
        while waiting:
            runs = {run.run_id: run for run in self.instance.get_runs(dg.RunsFilter(run_ids=waiting))}
            on_poll(runs)  # first: a run that started and ended within one pause is seen too
            if all(run.is_finished for run in runs.values()):
                return [runs[run_id] for run_id in waiting]
            self.launch_queued()
            self._pause()
        return []

    def _pause(self) -> None:
        """Until a run this process launched ends (the queue then launches the next at
        once), or `IDLE_SECONDS`; `POLL_SECONDS` where no run of this process is running
        (the launcher cannot tell, or a daemon launches them)."""
        launcher = self.instance.run_launcher
        if not (isinstance(launcher, PreloadedRunLauncher) and launcher.wait_for_exit(IDLE_SECONDS)):
            time.sleep(POLL_SECONDS)

    def __enter__(self) -> RunQueue:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is not None:  # Ctrl-C, SIGTERM or a bug: what was submitted here stops too
            for run_id in self._submitted:
                run = self.instance.get_run_by_id(run_id)
                if run is not None and not run.is_finished:
                    self.instance.run_coordinator.cancel_run(run_id)
        if self._daemon is not None:
            self._daemon.__exit__(None, None, None)
        if self._workspace is not None:
            self._workspace.__exit__(None, None, None)
        self.instance.run_launcher.join()
