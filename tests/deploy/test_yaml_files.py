"""Every YAML file under deploy/ parses, and the Helm values name the chart's keys."""

from __future__ import annotations

import re

import yaml

from tests.deploy.deploy_files import DEPLOY, load_yaml, pyproject_pins

EXPECTED = {"compose.yaml", "dagster-compose.yaml", "dagster-postgres.yaml", "workspace-compose.yaml",
            "helm/values.yaml", "k8s/gpu_step_tags.yaml", "k8s/volumes.yaml"}


def test_every_yaml_file_under_deploy_parses():
    found = {str(path.relative_to(DEPLOY)) for path in DEPLOY.rglob("*.y*ml")}
    assert EXPECTED <= found, EXPECTED - found
    for relative in sorted(found):
        documents = list(yaml.safe_load_all((DEPLOY / relative).read_text()))
        assert documents and all(isinstance(document, dict) and document for document in documents), relative


def test_helm_values_target_the_chart_of_the_pinned_dagster():
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    versions = set(re.findall(r"(?:--version|chart version) (\d+\.\d+\.\d+)", text))
    assert versions == {pyproject_pins()["dagster"]}, versions


def test_helm_user_deployment_runs_the_project_image_with_its_store_settings():
    values = load_yaml("helm/values.yaml")
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "parallax_pipeline.definitions"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert deployment["image"]["tag"] not in ("", "latest")
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["PARALLAX_STORAGE_DIR"].startswith("s3://")
    assert "AWS_ENDPOINT_URL" in env
    mounts = {mount["name"]: mount["mountPath"] for mount in deployment["volumeMounts"]}
    assert mounts["projects"] == env["PARALLAX_PROJECTS_DIR"] and mounts["renders"] == env["PARALLAX_RENDERS_DIR"]
    claims = {doc["metadata"]["name"] for doc in yaml.safe_load_all((DEPLOY / "k8s" / "volumes.yaml").read_text())}
    assert {volume["persistentVolumeClaim"]["claimName"] for volume in deployment["volumes"]} <= claims
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
