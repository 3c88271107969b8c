#!/usr/bin/env bash
# One command: set up, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The integration tests start a PostgreSQL 15 server of their own (tests/postgres_server.py):
# install Debian's server programs where they are missing (as root, e.g. on a fresh CI machine).
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && [ -z "${PARALLAX_PG_BIN:-}" ] && ! command -v initdb >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing postgresql-15 (the tests' database server)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  else
    echo "the tests need PostgreSQL 15's server programs: apt-get install postgresql-15 (or set PARALLAX_PG_BIN)" >&2
    exit 1
  fi
fi
exec .venv/bin/python -m pytest -q "$@"
