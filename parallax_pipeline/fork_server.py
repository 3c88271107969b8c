"""The fork server that run processes are forked from (see `run_launcher`): one per
launching process, started early, with Dagster and the pipeline imported and the renderer
warmed up once. Only `multiprocessing` here, so `parallax run` can start it before it
imports anything heavy itself."""

from __future__ import annotations

import multiprocessing

PRELOAD = [
    "parallax_pipeline.definitions",
    # what opening the instance imports (SQLite or PostgreSQL storage, migrations): 0.6 s a run otherwise
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log.polling_event_watcher",
    "dagster_postgres",
    "alembic.command",
    "dagster._core.execution.api",
    "dagster._utils.hosted_user_process",
    "parallax_pipeline.fork_server_warmup",  # last: renders a tiny clip (kernels, codecs)
]
"""Imported once by the fork server (Dagster and the whole pipeline with it). The
module-level ``defs`` of `parallax_pipeline.definitions` is built from the environment the
fork server started with, which is the launching process's: what a run without
`DEFINITIONS_TAG` (one the daemon's sensors asked for) is loaded from, as a code server
would load it."""

_context = None


def fork_context() -> multiprocessing.context.BaseContext:
    """The `multiprocessing` context whose processes are forked from the fork server."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def start_fork_server() -> None:
    """Start the fork server now, so its imports and warm-up overlap the caller's own
    (`parallax run` calls this before it imports Dagster) instead of delaying the first
    run. Idempotent."""
    from multiprocessing import forkserver

    fork_context()
    forkserver.ensure_running()




def stop_fork_server() -> None:
    """Stop the fork server and wait for it (it ends once the runs forked from it have
    ended): what `parallax run` does last, so the runs' CPU time is counted as its
    children's, as it was when runs ran in its own process."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is not None and getattr(server, "_forkserver_pid", None) is not None:
        server._stop()  # multiprocessing's own way to stop it (its tests use it)
