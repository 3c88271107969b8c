#!/usr/bin/env bash
# Creates .venv and installs the project with its test tools. Safe to run again: the
# install runs only when pyproject.toml changed since the last one (a stamp in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.parallax-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && .venv/bin/python -c "import parallax_pipeline" 2>/dev/null; then
  exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a CPU build lies on this kind of machine's disk, while a
# looser requirement with no torch installed would pull a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
# PYTHONWARNINGS reaches the isolated build: it silences setuptools' editable-install notice.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".[test]"
echo "$wanted" > "$stamp"
