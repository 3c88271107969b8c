"""The package's shape: one room per medium, imports that point one way, no cycles.

Read statically from the source (every import, those inside functions included), so a
cycle dodged by a function-level import is still a cycle here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "parallax_pipeline"
MAX_LINES = 450
COHESIVE = "one cohesive algorithm"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The project modules ``name`` imports anywhere in its source."""
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import (the project imports absolutely)"
            base = node.module or ""
            # `from package import module` imports the module; `from module import name` the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in MODULES and target != name}
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            visit(name)
    return found


def test_no_import_cycles_counting_function_level_imports():
    assert _cycles() == []


def test_the_cycle_check_finds_a_cycle():
    saved = dict(GRAPH)
    try:
        GRAPH["parallax_pipeline.engine.files"] = GRAPH["parallax_pipeline.engine.files"] | {"parallax_pipeline.engine.video.codec"}
        assert any("parallax_pipeline.engine.files" in cycle for cycle in _cycles())
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_modules_stay_small_unless_they_say_why():
    long = {}
    for name, path in MODULES.items():
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            long[name] = (lines, COHESIVE in (ast.get_docstring(ast.parse(path.read_text())) or ""))
    assert all(explained for _, explained in long.values()), long
    assert len(long) <= 1, f"one exception at most: {long}"


def _room(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "engine" else None


def test_engine_imports_only_engine():
    for name, targets in GRAPH.items():
        if name.startswith("parallax_pipeline.engine"):
            outside = {t for t in targets if not t.startswith("parallax_pipeline.engine")}
            assert not outside, f"{name} imports {outside}"


def test_video_and_audio_never_meet_but_in_delivery():
    for name, targets in GRAPH.items():
        rooms = {_room(t) for t in targets}
        if _room(name) == "video":
            assert "audio" not in rooms, name
        if _room(name) == "audio":
            assert "video" not in rooms, name
        if name.startswith("parallax_pipeline.engine") and {"audio", "video"} <= rooms:
            assert name == "parallax_pipeline.engine.delivery", f"{name} joins audio and video"


def test_bottom_modules_import_only_the_bottom():
    bottom = {f"parallax_pipeline.engine.{m}" for m in ("files", "errors", "streams", "previews")}
    for name in bottom:
        assert GRAPH[name] <= bottom, f"{name} imports {GRAPH[name] - bottom}"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)


def test_engine_does_not_import_dagster():
    engine = [name for name in MODULES if name.startswith("parallax_pipeline.engine")]
    code = f"import importlib, sys\nfor m in {engine!r}: importlib.import_module(m)\nsys.exit('dagster' in sys.modules)"
    result = _run(code)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", ["parallax_pipeline.sensors", "parallax_pipeline.recipes", "parallax_pipeline.spec"])
def test_sensor_side_modules_do_not_load_pyav_torch_or_numba(module):
    result = _run(f"import sys, {module}\nheavy = {{'av', 'torch', 'numba'}} & set(sys.modules)\nsys.exit(str(sorted(heavy)) if heavy else 0)")
    assert result.returncode == 0, result.stderr or result.stdout


def test_the_benchs_renderer_path_still_resolves():
    # ../shared/bench documents `--renderer parallax_pipeline.engine.parallax:render_view`
    result = _run(
        "import importlib, sys\n"
        "fn = getattr(importlib.import_module('parallax_pipeline.engine.parallax'), 'render_view')\n"
        "from parallax_pipeline.engine.parallax.renderer import render_view\n"
        "sys.exit(fn is not render_view)"
    )
    assert result.returncode == 0, result.stderr
