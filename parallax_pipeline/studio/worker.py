"""Renders projects as soon as they change: the pipeline settled in a thread of the server.

`parallax serve` runs what `parallax run` runs (`runner.settle`: the projects sensor's
plan and declarative automation, executed in process against the instance), on a worker
thread woken the moment an upload lands, instead of a daemon polling every 30 s. One
settle at a time, under the store's `parallax run` lock, so a `parallax run` or a
second server on the same store waits rather than doing the work twice. Uploads that
arrive during a settle are picked up by the next one.

Each change gets a number; a project is *queued* while its last change is newer than
the settle under way, *rendering* while a settle that includes it runs, and *settled*
after one finished; whether it is then done or failed is read from the instance
(`status`), not remembered here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import dagster as dg

from parallax_pipeline.engine.files import exclusive_lock
from parallax_pipeline.runner import SettleReport, settle
from parallax_pipeline.studio.background import BackgroundLoop

log = logging.getLogger("parallax.studio")
_FAILURE = re.compile(r"^(?P<assets>[^\[]*) \[(?P<partition>[^\]]+)\]: (?P<error>.*)$", re.S)


class ProjectWorker(BackgroundLoop):
    def __init__(self, defs: dg.Definitions, lock_path, on_settled: Callable[[set[str]], None]):
        super().__init__("parallax-projects")
        self.defs, self.lock_path, self.on_settled = defs, lock_path, on_settled
        self._sequence = 0
        self._changed: dict[str, int] = {}
        self._settling_from: int | None = None
        self._settled_through = -1  # nothing settled since the server started
        self._wanted = True  # a first settle finishes what an earlier server left
        self.failures: dict[str, list[tuple[str, str, str]]] = {}
        """Project -> (assets, partition, error) of its failed runs, kept until the project
        changes: a later settle with nothing new to try (the same inputs are not run
        again) leaves the reason standing."""
        self.last_error: str | None = None
        self.settles = 0

    def changed(self, project: str) -> None:
        """A project's files changed: render it now (or right after the settle under way)."""
        with self._cond:
            self._sequence += 1
            self._changed[project] = self._sequence
            self.failures.pop(project, None)
            self._wanted = True
            self._cond.notify_all()

    def forget(self, project: str) -> None:
        with self._cond:
            self._changed.pop(project, None)
            self.failures.pop(project, None)

    def phase(self, project: str) -> str:
        """``queued``, ``rendering`` or ``settled`` (see the module's docstring)."""
        with self._cond:
            change = self._changed.get(project, 0)
            if self._settling_from is not None and change <= self._settling_from:
                return "rendering"
            return "settled" if change <= self._settled_through else "queued"

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                self._wanted = False
                start = self._settling_from = self._sequence
                included = {name for name, change in self._changed.items() if change <= start}
            try:
                report = self._settle()
                failures: dict[str, list[tuple[str, str, str]]] = {}
                for line in report.failures:
                    match = _FAILURE.match(line)
                    if match:
                        project = match["partition"].split("|")[0]
                        failures.setdefault(project, []).append((match["assets"], match["partition"], match["error"]))
                self.last_error = None
            except Exception as err:  # noqa: BLE001 - the worker outlives a broken settle; healthz reports it
                log.exception("settling the projects failed")
                self.last_error = f"{type(err).__name__}: {err}"
                failures = {}
            with self._cond:
                self.failures.update(failures)
                self._settling_from = None
                self._settled_through = start
                self.settles += 1
                self._cond.notify_all()
            self.on_settled(included)

    def _settle(self) -> SettleReport:
        with exclusive_lock(self.lock_path), dg.DagsterInstance.get() as instance:
            return settle(self.defs, instance, log=lambda line: log.info(line), log_level="WARNING", launched_by="studio")

    def wait_idle(self, timeout: float) -> bool:
        """Until nothing is queued or rendering (tests and a graceful stop)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._wanted and self._settling_from is None and self._settled_through >= 0, timeout
            )
