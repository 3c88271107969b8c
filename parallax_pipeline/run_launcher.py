"""The run launcher of the embedded default: each run in its own process, forked from a
process that has the pipeline's code imported already.

Dagster's `DefaultRunLauncher` asks a code server to *spawn* a process per run, which
imports Dagster and the pipeline again (about 2–3 s of CPU on a laptop core, more than a
short scene takes to render). This launcher forks each run from a `multiprocessing`
fork server that imported them once, so a run starts in a fraction of a second. It is
an ordinary `RunLauncher` named in the instance's ``dagster.yaml``: the daemon of
`dg dev` launches the queue's runs with it exactly as `parallax run` does.

A run made by `parallax run` names the definitions it was planned with (the
`DEFINITIONS_TAG` settings, see `definitions.build_definitions`); any other run is
loaded from its code origin as Dagster's own launchers load it. The launcher puts the
run's process in the run's tags (`recovery.process_tags`), so a run whose process died is
found and failed, and `check_run_worker_health` lets Dagster's run monitoring see it.
"""

from __future__ import annotations

import json
import multiprocessing.connection
import os
import signal
import threading

import dagster as dg
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from parallax_pipeline.fork_server import fork_context
from parallax_pipeline.recovery import PID_TAG, process_tags, run_process_alive



def run_job(defs: dg.Definitions, asset_selection) -> dg.JobDefinition:
    """The job a run of ``asset_selection`` executes: the assets' job, every step in the
    run's own process (as `execute_in_process` runs it). The same where the run is
    planned (`run_queue.create_run`) and where it runs (`_job_for`)."""
    return defs.resolve_implicit_global_asset_job_def().as_ephemeral_job(
        resource_defs={}, input_values={}, asset_selection=list(asset_selection or [])
    )


def _job_for(run: dg.DagsterRun):
    from dagster._core.definitions.job_base import InMemoryJob

    from parallax_pipeline.definitions import DEFINITIONS_TAG, build_definitions

    settings = run.tags.get(DEFINITIONS_TAG)
    if settings is None:
        from dagster._utils.hosted_user_process import recon_job_from_origin

        return recon_job_from_origin(run.job_code_origin)

    return InMemoryJob(run_job(build_definitions(**json.loads(settings)), run.asset_selection))


def _die_with_launcher(lifeline) -> None:
    """SIGKILL this process as soon as the process that launched it ends (its end of
    ``lifeline`` closes): a run belongs to the `parallax run` (or daemon) that launched
    it, so a killed `parallax run` leaves no render behind that a second one would
    duplicate. The run is left STARTED with a dead process, which recovery and run
    monitoring fail."""

    def watch() -> None:
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="launcher-lifeline", daemon=True).start()


def execute_launched_run(
    run_id: str, instance_ref, environment: dict[str, str], folder: str, lifeline
) -> None:
    """The run's process: the launching process's environment and folder, then the run."""
    from dagster._core.execution.api import execute_run

    _die_with_launcher(lifeline)
    os.chdir(folder)
    os.environ.clear()
    os.environ.update(environment)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate() ends the run like Ctrl-C
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return
        try:
            job = _job_for(run)
        except Exception as error:  # the code cannot be loaded: the run fails, saying why
            instance.report_run_failed(run, message=f"Parallax Studio: cannot load the run's job: {error}")
            return
        execute_run(job, instance.get_run_by_id(run_id), instance)


class PreloadedRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a process forked from a fork server with the code imported."""

    def __init__(self, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self._processes: dict[str, tuple] = {}
        """Run id -> its process and the write end of its lifeline."""
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value) -> PreloadedRunLauncher:
        return cls(inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        self._reap()
        forks = fork_context()
        lifeline, keep = forks.Pipe(duplex=False)  # the run reads; only this process can write
        process = forks.Process(
            target=execute_launched_run,
            args=(run.run_id, self._instance.get_ref(), dict(os.environ), os.getcwd(), lifeline),
            name=f"dagster-run-{run.run_id[:8]}",
        )
        process.start()
        lifeline.close()
        self._processes[run.run_id] = (process, keep)
        # the run's process, for recovery and run monitoring (replacing the submitter's)
        self._instance.add_run_tags(run.run_id, process_tags(process.pid))

    def wait_for_exit(self, timeout: float) -> bool:
        """Return as soon as a run process this launcher started ends, or after
        ``timeout`` seconds; False at once if none is running (nothing to wait for). Ended
        processes are reaped first, so each end wakes one wait."""
        self._reap()
        sentinels = [process.sentinel for process, _ in self._processes.values()]
        if sentinels:
            multiprocessing.connection.wait(sentinels, timeout)
        return bool(sentinels)

    def _reap(self) -> None:
        for run_id, (process, keep) in list(self._processes.items()):
            if not process.is_alive():
                process.join()
                keep.close()
                del self._processes[run_id]

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished or run_process_alive(run) is not True:
            return False
        self._instance.report_run_canceling(run)
        os.kill(int(run.tags[PID_TAG]), signal.SIGTERM)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        alive = run_process_alive(run)
        if alive is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run's process is on another machine")
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, "the run's process is gone")

    def join(self, timeout: int = 30) -> None:
        for process, _ in self._processes.values():
            process.join(timeout)
        self._reap()

    def dispose(self) -> None:
        self._reap()
