"""The deploy/ folder's files, read once, and pyproject.toml's pins to compare them with."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;,'\"]+)")


def load_yaml(relative: str):
    return yaml.safe_load((DEPLOY / relative).read_text())


@cache
def pyproject_pins() -> dict[str, str]:
    """Every `name==version` of the dependencies and every extra, by normalised name."""
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    pins = {}
    for requirement in requirements:
        match = PIN.match(requirement)
        assert match, f"pyproject.toml: {requirement!r} is not pinned with =="
        pins[normalise(match[1])] = match[2]
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_references(node) -> set[str]:
    """The environment variables a Dagster config file reads (`{env: NAME}`)."""
    found = set()
    if isinstance(node, dict):
        if set(node) == {"env"}:
            found.add(node["env"])
        for value in node.values():
            found |= env_references(value)
    elif isinstance(node, list):
        for value in node:
            found |= env_references(value)
    return found
