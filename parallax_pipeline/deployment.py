"""What changes when the code location is deployed on Kubernetes (see deploy/k8s/) or on
Celery workers (`parallax_pipeline.celery_app`).

Both read the environment, so `parallax run`, `dg dev` and the tests (no variables set)
keep Dagster's defaults: steps in the run's process, no pod settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

GPU_STEP_TAGS = "PARALLAX_GPU_STEP_TAGS"
"""Names a YAML file holding the op tags of the steps that use the GPU (one
`dagster-k8s/config` tag: a GPU limit, a node selector, tolerations)."""
EXECUTOR = "PARALLAX_EXECUTOR"
"""``k8s``: every step its own pod (dagster-k8s's k8s_job_executor), so the GPU tags apply.
``celery``: every step a task on a Celery queue, run by whichever worker takes it
(dagster-celery's celery_executor; workers: ``celery -A parallax_pipeline.celery_app worker``)."""
CELERY_BROKER = "PARALLAX_CELERY_BROKER"
"""The broker's URL, e.g. ``redis://queue.internal:6379/0`` (the default: a local Redis)."""
CELERY_BACKEND = "PARALLAX_CELERY_BACKEND"
"""Where workers put the steps' results for the run to read (default: the broker's URL)."""
CELERY_VISIBILITY_TIMEOUT = "PARALLAX_CELERY_VISIBILITY_TIMEOUT"
"""Seconds after which Redis hands a step that no worker acknowledged to another worker
(default 3600). A worker that dies mid-step is noticed only then; a step that runs longer
than this is started a second time, so it must exceed the longest step."""
CELERY_RESTORE_INTERVAL = "PARALLAX_CELERY_RESTORE_INTERVAL"
"""Seconds between the workers' sweeps for steps past the visibility timeout (default 10)."""

DEFAULT_BROKER = "redis://localhost:6379/0"


def gpu_step_tags() -> dict[str, object]:
    path = os.environ.get(GPU_STEP_TAGS)
    if not path:
        return {}
    try:
        tags = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RuntimeError(f"{GPU_STEP_TAGS}={path}: cannot read the GPU step tags: {error}") from error
    if not isinstance(tags, dict) or set(tags) != {"dagster-k8s/config"}:
        raise RuntimeError(f"{GPU_STEP_TAGS}={path}: expected one 'dagster-k8s/config' tag, found {tags!r}")
    return tags


def executor():
    """The executor the environment asks for; None: Dagster's default."""
    wanted = os.environ.get("PARALLAX_EXECUTOR", "")
    if not wanted:
        return None
    if wanted == "celery":
        return celery_executor()
    if wanted != "k8s":
        raise RuntimeError(f"{EXECUTOR}={wanted!r}: the executors that can be chosen are 'k8s' and 'celery'")
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as error:
        raise RuntimeError(f"{EXECUTOR}=k8s needs dagster-k8s: pip install '.[deploy]'") from error
    return k8s_job_executor


def _positive_seconds(name: str, value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise RuntimeError(f"{name}={value!r}: expected a whole number of seconds, more than 0")
    return seconds


def celery_settings() -> dict[str, object]:
    """The Celery settings that runs and workers share (the run's executor submits with
    them, `parallax_pipeline.celery_app` builds the workers' app from them).

    A step's task is acknowledged when it ends, not when a worker takes it
    (``task_acks_late``), and given back to the queue when the worker's process running it
    dies (``task_reject_on_worker_lost``); a worker that dies as a whole (machine, SIGKILL)
    leaves it unacknowledged, and Redis hands it out again after the visibility timeout.
    A worker takes one step at a time (``worker_prefetch_multiplier``), so queued steps go
    to whichever worker is free."""
    from dagster_celery.defaults import broker_transport_options  # its publishing retries

    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            **broker_transport_options,
            "visibility_timeout": _positive_seconds(
                CELERY_VISIBILITY_TIMEOUT, os.environ.get("PARALLAX_CELERY_VISIBILITY_TIMEOUT"), 3600),
            "unacked_restore_interval": _positive_seconds(
                CELERY_RESTORE_INTERVAL, os.environ.get("PARALLAX_CELERY_RESTORE_INTERVAL"), 10),
            "unacked_restore_throttle": 1,  # every sweep looks (kombu's default: every 10th)
        },
    }


def celery_broker() -> str:
    return os.environ.get("PARALLAX_CELERY_BROKER") or DEFAULT_BROKER


def celery_backend() -> str:
    return os.environ.get("PARALLAX_CELERY_BACKEND") or celery_broker()


def celery_executor():
    """dagster-celery's executor with the broker, backend and settings of the environment
    (`celery_settings`), read when a run starts; a run's config may still set ``broker``,
    ``backend``, ``config_source`` (merged over these settings) and ``retries``."""
    try:
        import redis  # noqa: F401  (kombu's Redis transport needs it; found now, not at the first step)
        from dagster_celery import celery_executor as dagster_celery_executor
    except ImportError as error:
        raise RuntimeError(
            f"{EXECUTOR}=celery needs dagster-celery and a Redis client: pip install '.[deploy]'"
        ) from error
    import dagster as dg

    def with_environment(config: dict) -> dict:
        settings = celery_settings()
        settings.update(config.get("config_source") or {})
        resolved = {
            "broker": config.get("broker") or celery_broker(),
            "backend": config.get("backend") or celery_backend(),
            "config_source": settings,
        }
        if "retries" in config:
            resolved["retries"] = config["retries"]
        return resolved

    return dagster_celery_executor.configured(
        with_environment,
        name="celery",
        config_schema={
            "broker": dg.Field(dg.StringSource, is_required=False, description=f"Default: ${CELERY_BROKER}."),
            "backend": dg.Field(dg.StringSource, is_required=False, description=f"Default: ${CELERY_BACKEND}."),
            "config_source": dg.Field(dg.Permissive(), is_required=False,
                                      description="Celery settings over `deployment.celery_settings()`."),
            "retries": dagster_celery_executor.config_schema.config_type.fields["retries"],
        },
    )
