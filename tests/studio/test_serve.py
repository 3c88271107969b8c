"""`parallax serve` itself: it refuses to listen beyond loopback without tokens, names a
bad token entry, and runs open (one owner, no token) on loopback."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.studio.conftest import start_server, stop_server


def _serve(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PARALLAX_API_TOKENS")}
    return subprocess.run([sys.executable, "-m", "parallax_pipeline.cli", "serve", *args], env={**environment, **env},
                          capture_output=True, text=True, timeout=120)


def test_no_tokens_means_loopback_only_and_a_bad_entry_is_named(tmp_path):
    home = {"DAGSTER_HOME": str(tmp_path / "home")}
    refused = _serve("--host", "0.0.0.0", "--port", "1", "--projects", str(tmp_path / "p"), **home)
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0 with no tokens" in refused.stderr
    (tmp_path / "tokens").write_text("# owners\nalice:short\n")
    bad = _serve("--port", "1", **home, PARALLAX_API_TOKENS_FILE=str(tmp_path / "tokens"))
    assert bad.returncode == 2 and "token entry 1 (alice)" in bad.stderr and "short" not in bad.stderr.split("(alice)")[1]


def test_on_loopback_without_tokens_the_service_is_open(tmp_path):
    server = start_server(tmp_path, extra_env={"PARALLAX_API_TOKENS": ""})
    try:
        with server.client(None) as anonymous:
            me = anonymous.get("/v1/me")
            assert me.status_code == 200 and me.json()["owner"] == "local"
            assert anonymous.get("/v1/projects").json() == {"projects": []}
    finally:
        stop_server(server)
