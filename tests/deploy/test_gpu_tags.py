"""deploy/k8s/gpu_step_tags.yaml: the one `dagster-k8s/config` tag of the GPU steps. Its
shape is checked here; put on an asset like `depth_map` (pool `gpu`) it must survive
Dagster's op tags into the step, and, with dagster-k8s installed, dagster-k8s must turn the
step's tags into a pod that asks for an NVIDIA GPU on a GPU node."""

from __future__ import annotations

import importlib.util
import json

import dagster as dg
import pytest
from dagster._core.execution.api import create_execution_plan

from tests.deploy.deploy_files import load_yaml

TAG = "dagster-k8s/config"
TAGS = load_yaml("k8s/gpu_step_tags.yaml")
# The keys dagster-k8s accepts in the tag (dagster_k8s.job.USER_DEFINED_K8S_JOB_CONFIG_SCHEMA).
K8S_CONFIG_KEYS = {"container_config", "pod_template_spec_metadata", "pod_spec_config", "job_config",
                   "job_metadata", "job_spec_config", "merge_behavior"}


def test_gpu_tag_asks_for_a_gpu_on_a_gpu_node():
    assert set(TAGS) == {TAG}
    config = TAGS[TAG]
    assert set(config) <= K8S_CONFIG_KEYS
    limits = config["container_config"]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1
    assert all(isinstance(value, str) for value in limits.values()), "Kubernetes quantities as strings"
    pod = config["pod_spec_config"]
    assert pod["node_selector"] and all(isinstance(value, str) for value in pod["node_selector"].values())
    assert any(toleration["key"] == "nvidia.com/gpu" and toleration["effect"] == "NoSchedule"
               for toleration in pod["tolerations"])


def _step_tags() -> dict[str, str]:
    @dg.asset(op_tags=TAGS, pool="gpu", name="depth_map")
    def gpu_step():
        return 1

    job = dg.Definitions(assets=[gpu_step]).resolve_implicit_global_asset_job_def()
    step = create_execution_plan(job).get_step_by_key("depth_map")
    assert step.pool == "gpu"
    return step.tags


def test_gpu_tag_reaches_the_step_as_dagster_op_tags():
    tags = _step_tags()
    assert json.loads(tags[TAG]) == TAGS[TAG]


@pytest.mark.skipif(importlib.util.find_spec("dagster_k8s") is None,
                    reason="dagster-k8s not installed: the step pod is not built "
                           "(pip install -e '.[deploy]' to check it)")
def test_k8s_job_executor_builds_a_gpu_pod_from_the_step_tags():
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    user_config = get_user_defined_k8s_config(_step_tags())  # what the k8s_job_executor reads
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image="registry.example.com/parallax-studio:0.1.0", image_pull_policy="IfNotPresent"),
        ["dagster", "api", "execute_step"], "dagster-step-depth", user_config, pod_name="dagster-step-depth",
        component="step_worker")
    pod = job.spec.template.spec
    assert pod.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert pod.node_selector == TAGS[TAG]["pod_spec_config"]["node_selector"]
    assert [(t.key, t.operator, t.effect) for t in pod.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]


def test_the_depth_map_asset_carries_the_gpu_tags_when_deployed(tmp_path):
    """The image sets PARALLAX_GPU_STEP_TAGS; the code location then gives depth_map those
    op tags (read at import, so in a fresh interpreter), and none without the variable."""
    import os
    import subprocess
    import sys

    from tests.deploy.deploy_files import DEPLOY

    probe = "import json; from parallax_pipeline.assets.scenes import depth_map; print(json.dumps(depth_map.op.tags))"
    env = {key: value for key, value in os.environ.items() if key != "PARALLAX_GPU_STEP_TAGS"}
    bare = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert TAG not in json.loads(bare.stdout.splitlines()[-1])
    env["PARALLAX_GPU_STEP_TAGS"] = str(DEPLOY / "k8s" / "gpu_step_tags.yaml")
    tagged = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert json.loads(json.loads(tagged.stdout.splitlines()[-1])[TAG]) == TAGS[TAG]
    broken = tmp_path / "tags.yaml"
    broken.write_text("dagster-k8s/config: [unclosed\n")
    env["PARALLAX_GPU_STEP_TAGS"] = str(broken)
    failed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and f"PARALLAX_GPU_STEP_TAGS={broken}" in failed.stderr
