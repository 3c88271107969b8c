#!/usr/bin/env bash
# One command: set up, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian packages the tests drive for real, installed where apt is and they are not:
# chromium for the studio page's test (Playwright at the system's executable, no browser
# download), PostgreSQL 15's server programs (tests/postgres_server.py starts a server) and
# redis-server (the Celery broker of tests/test_celery_workers.py, tests/redis_server.py).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! command -v redis-server >/dev/null 2>&1 && [ -z "${PARALLAX_REDIS_SERVER:-}" ]; then
  missing+=(redis-server)
fi
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && [ -z "${PARALLAX_PG_BIN:-}" ] && ! command -v initdb >/dev/null; then
  missing+=(postgresql-15)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    echo "installing ${missing[*]} (what the tests run)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the tests need: ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
exec .venv/bin/python -m pytest -q "$@"
