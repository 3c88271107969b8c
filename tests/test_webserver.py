"""`dg dev` (the README's command) on loopback serves the project: the asset graph over GraphQL, a launched
materialisation that succeeds, and the daemon's sensor and automation rendering a project
that was only dropped into the projects folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from parallax_pipeline.cli import prepare_dagster_home
from tests.conftest import REPO, write_small_project

ASSETS = {"depth_map", "parallax_clip", "composed_video", "mixed_audio", "final_video"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def dagster_dev(tmp_path):
    write_small_project(tmp_path / "projects" / "trip", ["alpha", "beta"])
    home = prepare_dagster_home(tmp_path / "home")
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PARALLAX_PROJECTS_DIR": str(tmp_path / "projects"),
        "PARALLAX_STORAGE_DIR": str(tmp_path / "storage"),
        "PARALLAX_RENDERS_DIR": str(tmp_path / "renders"),
    }
    dg = Path(sys.executable).with_name("dg")
    log = open(tmp_path / "dagster_dev.log", "wb")
    process = subprocess.Popen(
        [str(dg), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "dagster_dev.log").read_text()[-3000:])
                time.sleep(1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _final_video_partitions(port: int) -> set[str]:
    data = _graphql(
        port, '{ assetNodes(assetKeys: [{path: ["final_video"]}]) { assetMaterializations { partition } } }'
    )
    return {entry["partition"] for entry in data["assetNodes"][0]["assetMaterializations"]}


def test_dagster_dev_serves_graph_and_runs_a_materialisation(dagster_dev):
    port = dagster_dev
    deadline = time.monotonic() + 120
    while True:  # the code location loads after the webserver answers
        data = _graphql(port, "{ assetNodes { assetKey { path } dependencyKeys { path } } }")
        if data["assetNodes"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    nodes = {node["assetKey"]["path"][-1]: {d["path"][-1] for d in node["dependencyKeys"]} for node in data["assetNodes"]}
    assert set(nodes) == ASSETS
    assert nodes["parallax_clip"] == {"depth_map"}
    assert nodes["composed_video"] == {"parallax_clip"}
    assert nodes["final_video"] == {"composed_video", "mixed_audio"}

    repos = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }")
    repo = repos["repositoriesOrError"]["nodes"][0]
    selector = {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}
    added = _graphql(
        port,
        """mutation($selector: RepositorySelector!, $name: String!, $key: String!) {
             addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
               __typename ... on PythonError { message } } }""",
        {"selector": selector, "name": "projects", "key": "trip"},
    )
    # The projects sensor may have registered the project first.
    assert added["addDynamicPartition"]["__typename"] in {"AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"}

    launched = _graphql(
        port,
        """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
             ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }""",
        {
            "params": {
                "selector": {**selector, "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": ["mixed_audio"]}]},
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "trip"}]},
            }
        },
    )
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["launchRun"]["run"]["runId"]
    deadline = time.monotonic() + 180
    while True:
        status = _graphql(port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})
        state = status["runOrError"]["status"]
        if state in {"SUCCESS", "FAILURE", "CANCELED"} or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert state == "SUCCESS"
    materialized = _graphql(
        port,
        """{ assetNodes(assetKeys: [{path: ["mixed_audio"]}]) { assetMaterializations(partitions: ["trip"]) {
             partition metadataEntries { label } } } }""",
    )
    entries = materialized["assetNodes"][0]["assetMaterializations"]
    assert entries and entries[0]["partition"] == "trip"
    assert "waveform" in {entry["label"] for entry in entries[0]["metadataEntries"]}

    # Left alone, the daemon's projects sensor and automation finish the project.
    deadline = time.monotonic() + 420
    while "trip" not in _final_video_partitions(port) and time.monotonic() < deadline:
        time.sleep(5)
    assert "trip" in _final_video_partitions(port)


def test_workspace_yaml_still_loads_the_definitions(tmp_path):
    """`dagster dev -w workspace.yaml` and the other workspace-file tools keep working."""
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(prepare_dagster_home(tmp_path / "home"))},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all code locations passed validation" in (result.stdout + result.stderr).lower()
