"""The Dagster instance Parallax Studio runs on: what its ``dagster.yaml`` must say.

The settings `parallax run` writes into its DAGSTER_HOME and the tests' instances use;
the Postgres example (`deploy/dagster-postgres.yaml`) writes the same by hand, beside
its storage:

* runs go through the run queue (Dagster's `QueuedRunCoordinator`, its default) with
  at most as many runs at once as the machine has cores (or `PARALLAX_MAX_RUNS`), and
  as many per project
  (`dagster/partition/project` is the scene runs' project): scenes render side by side;
* runs are launched by `run_launcher.PreloadedRunLauncher` (a process per run, forked
  with the code imported);
* every concurrency pool (the depth steps' ``gpu``) runs one step at a time;
* run monitoring fails runs whose process died and frees the slots of ended runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from parallax_pipeline.engine.files import write_atomic


MAX_RUNS = "PARALLAX_MAX_RUNS"
"""Runs at once on this machine (default: its core count)."""


def instance_settings(max_runs: int | None = None) -> dict:
    cores = max_runs or int(os.environ.get(MAX_RUNS) or 0) or os.cpu_count() or 1
    return {
        "run_launcher": {"module": "parallax_pipeline.run_launcher", "class": "PreloadedRunLauncher"},
        "concurrency": {
            "runs": {
                "max_concurrent_runs": cores,
                "tag_concurrency_limits": [
                    {"key": "dagster/partition/project", "value": {"applyLimitPerUniqueValue": True}, "limit": cores}
                ],
            },
            # Dagster holds back a run whose first steps are in a full pool, and counts a
            # run as holding its pools for its first 5 s: scene runs, whose first step is
            # the short depth step, would go one at a time. Launched anyway, a run's depth
            # step waits for its slot in the run, and the rest of the run goes on after.
            "pools": {"default_limit": 1, "op_granularity_run_buffer": cores},
        },
        "run_monitoring": {"enabled": True, "free_slots_after_run_end_seconds": 30},
        "telemetry": {"enabled": False},
    }


MARK = "# Written by Parallax Studio"
"""How a ``dagster.yaml`` this project wrote (and may write again) begins, in every
version of it."""


def write_dagster_home(path: Path) -> Path:
    """``path`` (resolved, made if missing) with a ``dagster.yaml`` of these settings:
    written where there is none, renewed where it is one this module wrote, kept where it
    is someone else's (e.g. from `deploy/dagster-postgres.yaml`)."""
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    settings = path / "dagster.yaml"
    if not settings.exists() or settings.read_text(encoding="utf-8").startswith(MARK):
        text = yaml.safe_dump(instance_settings(), sort_keys=False)
        write_atomic(settings, f"{MARK} (parallax_pipeline/instance_settings.py).\n{text}".encode())
    return path
