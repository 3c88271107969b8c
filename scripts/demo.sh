#!/usr/bin/env bash
# One command: set up, then render every project under projects/ (the demo ships there)
# end to end on the embedded default: SQLite under .dagster_home, CPU, shipped depth maps.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
exec .venv/bin/parallax run --projects projects "$@"
