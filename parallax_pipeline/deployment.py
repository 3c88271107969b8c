"""What changes when the code location is deployed on Kubernetes (see deploy/k8s/).

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
"""``k8s``: every step its own pod (dagster-k8s's k8s_job_executor), so the GPU tags apply."""


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
    wanted = os.environ.get(EXECUTOR, "")
    if not wanted:
        return None
    if wanted != "k8s":
        raise RuntimeError(f"{EXECUTOR}={wanted!r}: the one executor that can be chosen is 'k8s'")
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as error:
        raise RuntimeError(f"{EXECUTOR}=k8s needs dagster-k8s: pip install '.[deploy]'") from error
    return k8s_job_executor
