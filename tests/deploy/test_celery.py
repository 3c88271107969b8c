"""PARALLAX_EXECUTOR=celery: the executor and the workers' app take the same broker and
settings from the environment, and deploy/compose.yaml's optional Redis and Celery workers
fit them. The two workers themselves run in tests/test_celery_workers.py; here no broker
is reached (nor `docker compose` run)."""

from __future__ import annotations

import importlib
import sys

import pytest

from parallax_pipeline import deployment
from tests.deploy.deploy_files import load_yaml

COMPOSE = load_yaml("compose.yaml")
SERVICES = COMPOSE["services"]


@pytest.fixture
def celery_env(monkeypatch):
    monkeypatch.setenv("PARALLAX_EXECUTOR", "celery")
    monkeypatch.setenv("PARALLAX_CELERY_BROKER", "redis://queue.internal:6379/0")
    monkeypatch.delenv("PARALLAX_CELERY_BACKEND", raising=False)
    monkeypatch.setenv("PARALLAX_CELERY_VISIBILITY_TIMEOUT", "900")
    return monkeypatch


def _resolved(executor, config: dict) -> dict:
    result = executor.config_schema.resolve_config({"config": config})
    assert result.success, result.errors
    return result.value["config"]


def test_celery_executor_takes_broker_and_late_acknowledgement_from_the_environment(celery_env):
    executor = deployment.executor()
    assert executor.name == "celery"
    config = _resolved(executor, {})
    assert config["broker"] == config["backend"] == "redis://queue.internal:6379/0"
    settings = config["config_source"]
    assert settings["task_acks_late"] is True and settings["task_reject_on_worker_lost"] is True
    assert settings["worker_prefetch_multiplier"] == 1
    assert settings["broker_transport_options"]["visibility_timeout"] == 900
    # a run's config still wins, setting by setting
    config = _resolved(executor, {"backend": "redis://results:6379/1", "config_source": {"task_acks_late": False}})
    assert config["backend"] == "redis://results:6379/1" and config["broker"] == "redis://queue.internal:6379/0"
    assert config["config_source"]["task_acks_late"] is False
    assert config["config_source"]["task_reject_on_worker_lost"] is True


def test_the_definitions_use_it(celery_env):
    from parallax_pipeline.definitions import build_definitions

    job = build_definitions().resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "celery"


def test_workers_app_has_the_runs_settings(celery_env):
    sys.modules.pop("parallax_pipeline.celery_app", None)
    app = importlib.import_module("parallax_pipeline.celery_app").app
    try:
        assert app.conf.broker_url == "redis://queue.internal:6379/0"
        assert app.conf.result_backend == "redis://queue.internal:6379/0"
        for name, value in deployment.celery_settings().items():
            assert app.conf[name] == value, name
        assert "execute_plan" in app.tasks  # dagster-celery's step task, on its `dagster` queue
        assert [queue.name for queue in app.conf.task_queues] == ["dagster"]
    finally:
        sys.modules.pop("parallax_pipeline.celery_app", None)


def test_missing_dagster_celery_and_bad_settings_are_clear_errors(celery_env):
    celery_env.setitem(sys.modules, "dagster_celery", None)  # as if not installed
    with pytest.raises(RuntimeError, match=r"PARALLAX_EXECUTOR=celery needs dagster-celery .*\[deploy\]"):
        deployment.executor()
    celery_env.delitem(sys.modules, "dagster_celery")
    celery_env.setenv("PARALLAX_CELERY_VISIBILITY_TIMEOUT", "soon")
    with pytest.raises(RuntimeError, match="PARALLAX_CELERY_VISIBILITY_TIMEOUT='soon'"):
        deployment.celery_settings()
    celery_env.setenv("PARALLAX_EXECUTOR", "dask")
    with pytest.raises(RuntimeError, match="'k8s' and 'celery'"):
        deployment.executor()


def test_compose_celery_workers_use_the_app_the_broker_and_the_gpu():
    worker, redis = SERVICES["celery-worker"], SERVICES["redis"]
    assert worker["profiles"] == redis["profiles"] == ["celery"]
    command = worker["command"]
    assert command[:4] == ["celery", "-A", "parallax_pipeline.celery_app", "worker"]
    assert command[command.index("--concurrency") + 1] == "1"
    env = worker["environment"]
    assert env == SERVICES["code-server"]["environment"], "workers open the same instance and store"
    for variable in ("PARALLAX_CELERY_BROKER", "PARALLAX_CELERY_BACKEND"):
        assert env[variable].startswith("redis://redis:6379/")
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert redis["image"].startswith("redis:")
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(device["driver"] == "nvidia" and "gpu" in device["capabilities"] for device in devices)
    # run containers (DockerRunLauncher) get the executor and the broker from the daemon
    launcher_env = load_yaml("dagster-compose.yaml")["run_launcher"]["config"]["env_vars"]
    assert {"PARALLAX_EXECUTOR", "PARALLAX_CELERY_BROKER", "PARALLAX_CELERY_BACKEND"} <= set(launcher_env)
