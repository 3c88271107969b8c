"""Single jobs (renders, depth maps, mixes): records on disk and the thread that runs them.

A job is a folder ``<studio>/jobs/<id>/`` holding its inputs and ``job.json`` (owner,
kind, settings, state, result facts, error), written atomically at every change. Jobs
run one at a time, in order, on their own thread, beside the project worker, so a short
depth request does not wait behind a long project. Jobs a stopped server left queued or
running are queued again when it starts.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from parallax_pipeline.engine.files import write_atomic

log = logging.getLogger("parallax.studio")
PREFIX = {"render": "r", "depth": "d", "mix": "m"}


class JobBook:
    def __init__(self, folder: Path, execute: Callable[[dict, Path], dict], on_end: Callable[[dict], None]):
        self.folder = folder
        self.execute, self.on_end = execute, on_end
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="parallax-jobs", daemon=True)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for record in sorted(self.folder.glob("*/job.json"), key=lambda p: p.stat().st_mtime):
            job = self.read(record.parent.name)
            if job and job["state"] in ("queued", "running"):
                self._queue.put(job["id"])
        self.thread.start()

    def stop(self) -> None:
        self._queue.put(None)

    def new_folder(self, kind: str) -> tuple[str, Path]:
        job_id = PREFIX[kind] + secrets.token_hex(8)
        folder = self.folder / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def submit(self, job: dict) -> dict:
        job.update(state="queued", created=time.time())
        self._write(job)
        self._queue.put(job["id"])
        return job

    def read(self, job_id: str) -> dict | None:
        if not job_id.isalnum():
            return None
        try:
            return json.loads((self.folder / job_id / "job.json").read_text())
        except (OSError, ValueError):
            return None

    def delete(self, job_id: str) -> None:
        with self._lock:
            shutil.rmtree(self.folder / job_id, ignore_errors=True)

    def _write(self, job: dict) -> None:
        with self._lock:
            if (self.folder / job["id"]).is_dir():  # not deleted meanwhile
                write_atomic(self.folder / job["id"] / "job.json", json.dumps(job, indent=1).encode())

    def wait(self, job_id: str, seconds: float) -> dict | None:
        """The job, once it has ended or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        while True:
            job = self.read(job_id)
            if job is None or job["state"] in ("done", "failed") or time.monotonic() >= deadline:
                return job
            time.sleep(0.2)

    def _loop(self) -> None:
        while (job_id := self._queue.get()) is not None:
            job = self.read(job_id)
            if job is None:
                continue  # deleted while queued
            job.update(state="running", started=time.time())
            self._write(job)
            try:
                job.update(self.execute(job, self.folder / job_id), state="done")
            except Exception as err:  # noqa: BLE001 - a job's failure is its result, told to its owner
                log.info("job %s failed: %s", job_id, err)
                message = str(err).replace(str(self.folder / job_id) + "/", "")
                job.update(state="failed", error=message or type(err).__name__)
            job["finished"] = time.time()
            self._write(job)
            self.on_end(job)
