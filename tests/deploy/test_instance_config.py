"""The instances of both setups, validated by Dagster itself: deploy/dagster-compose.yaml
as a DAGSTER_HOME's dagster.yaml, and the dagster.yaml Dagster's Helm chart writes from
deploy/helm/values.yaml. The run launchers' own config schemas are checked when
dagster-docker / dagster-k8s are installed (the `deploy` extra); the test environment
installs only `.[test]`, so there those two tests skip and say so (pytest -rs)."""

from __future__ import annotations

import copy
import importlib.util

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

from tests.deploy.deploy_files import env_references, load_yaml

LAUNCHER_EXTRA = "pip install -e '.[deploy]' to check it"


def _validated(tmp_path, config: dict) -> dict:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    value, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    return value


def test_compose_instance_is_a_valid_dagster_instance_config(tmp_path):
    instance = _validated(tmp_path, load_yaml("dagster-compose.yaml"))
    postgres = instance["storage"]["postgres"]["postgres_db"]
    assert postgres["scheme"] == "postgresql+psycopg2"
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance["concurrency"]["pools"]["default_limit"] == 1  # the `gpu` pool
    limits = {limit["key"]: limit for limit in instance["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert limits["dagster/partition/project"]["value"] == {"applyLimitPerUniqueValue": True}
    assert instance["run_monitoring"]["enabled"] is True
    assert instance["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert (instance["run_launcher"]["module"], instance["run_launcher"]["class"]) == ("dagster_docker", "DockerRunLauncher")


def test_compose_instance_reads_the_same_database_variables_as_the_postgres_instance():
    assert env_references(load_yaml("dagster-compose.yaml")) == env_references(load_yaml("dagster-postgres.yaml"))
    assert env_references(load_yaml("dagster-compose.yaml")) == {
        "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"}


def test_instance_validation_refuses_run_limits_in_two_places(tmp_path):
    """The check above can fail: run limits both in the coordinator and under `concurrency`
    (the trap the Helm values avoid) are refused."""
    config = load_yaml("dagster-compose.yaml")
    config["run_coordinator"]["config"]["max_concurrent_runs"] = -1
    with pytest.raises(DagsterInvalidConfigError, match="max_concurrent_runs"):
        _validated(tmp_path, config)


@pytest.mark.skipif(importlib.util.find_spec("dagster_docker") is None,
                    reason=f"dagster-docker not installed: DockerRunLauncher config not checked ({LAUNCHER_EXTRA})")
def test_compose_run_launcher_config_builds_a_docker_run_launcher():
    from dagster._serdes.config_class import ConfigurableClassData
    from dagster_docker import DockerRunLauncher

    launcher = load_yaml("dagster-compose.yaml")["run_launcher"]
    result = validate_config(DockerRunLauncher.config_type(), launcher["config"])
    assert result.success, result.errors
    built = ConfigurableClassData(launcher["module"], launcher["class"], yaml.safe_dump(launcher["config"])).rehydrate(
        DockerRunLauncher)
    assert built.networks == ["parallax"]
    assert built.container_kwargs["device_requests"][0]["driver"] == "nvidia"


# The parts of the chart's dagster.yaml that values.yaml decides, written as the chart's
# templates write them (helm/dagster/templates/configmap-instance.yaml and helpers/instance/).
def _chart_instance(values: dict) -> dict:
    postgres = values["postgresql"]
    storage = {"postgres_db": {
        "username": postgres["postgresqlUsername"], "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": postgres["postgresqlHost"], "db_name": postgres["postgresqlDatabase"],
        "port": postgres["service"]["port"], "params": postgres["postgresqlParams"],
        "scheme": postgres["postgresqlScheme"]}}
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
    if any(value not in (None, [], {}, "") for value in queued.values()):
        # The chart's template: any non-empty setting writes a config, with -1 when unset.
        coordinator["config"] = {"max_concurrent_runs": queued.get("maxConcurrentRuns") or -1}
    monitoring = daemon["runMonitoring"]
    return {
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": storage},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage", "config": storage},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                             "config": storage},
        "run_coordinator": coordinator,
        "run_monitoring": {"enabled": monitoring["enabled"], "start_timeout_seconds": monitoring["startTimeoutSeconds"],
                           "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
                           "poll_interval_seconds": monitoring["pollIntervalSeconds"],
                           "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        **values["additionalInstanceConfig"],
    }


def test_helm_values_give_a_valid_dagster_instance_config(tmp_path):
    values = load_yaml("helm/values.yaml")
    instance = _validated(tmp_path, _chart_instance(values))
    assert "config" not in instance["run_coordinator"], "queuedRunCoordinator must stay empty (see values.yaml)"
    assert instance["concurrency"]["pools"]["default_limit"] >= 1
    assert instance["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert instance["run_storage"]["config"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"


def test_helm_values_with_a_run_coordinator_setting_are_refused(tmp_path):
    values = copy.deepcopy(load_yaml("helm/values.yaml"))
    values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["dequeueIntervalSeconds"] = 5
    with pytest.raises(DagsterInvalidConfigError, match="max_concurrent_runs"):
        _validated(tmp_path, _chart_instance(values))


@pytest.mark.skipif(importlib.util.find_spec("dagster_k8s") is None,
                    reason=f"dagster-k8s not installed: K8sRunLauncher config not checked ({LAUNCHER_EXTRA})")
def test_helm_run_launcher_config_fits_the_k8s_run_launcher_schema():
    from dagster_k8s import K8sRunLauncher

    launcher = load_yaml("helm/values.yaml")["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = launcher["runK8sConfig"]
    config = {  # as helpers/instance/_run-launcher.tpl writes it
        "load_incluster_config": launcher["loadInclusterConfig"], "job_namespace": "parallax",
        "image_pull_policy": launcher["imagePullPolicy"], "service_account_name": "parallax-dagster",
        "dagster_home": load_yaml("helm/values.yaml")["global"]["dagsterHome"],
        "instance_config_map": "parallax-dagster-instance", "postgres_password_secret": "dagster-postgresql-secret",
        "run_k8s_config": {"container_config": run_k8s["containerConfig"]},
    }
    result = validate_config(K8sRunLauncher.config_type(), config)
    assert result.success, result.errors
