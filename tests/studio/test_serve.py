"""`parallax serve` itself: it refuses to listen beyond loopback without tokens, names a
bad token entry, and runs open (one owner, no token) on loopback."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.studio.conftest import project_files, start_server, stop_server, wait_for


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


def test_open_on_loopback_a_failed_scene_says_why_and_healthz_names_a_broken_store(tmp_path):
    missing_model = tmp_path / "no-such-model"
    server = start_server(tmp_path, extra_env={
        "PARALLAX_API_TOKENS": "", "PARALLAX_DEPTH_MODEL": str(missing_model), "PARALLAX_CALLBACK_PRIVATE": "0",
    })
    try:
        with server.client(None) as anonymous:
            me = anonymous.get("/v1/me")
            assert me.status_code == 200 and me.json()["owner"] == "local"
            assert anonymous.get("/v1/projects").json() == {"projects": []}
            # Callbacks to this machine or a private network only where allowed (here: not).
            files = [f for f in project_files(tmp_path / "hook", ["a"])] + [("callback_url", (None, "http://127.0.0.1:9/x"))]
            refused = anonymous.post("/v1/projects", files=files)
            assert refused.status_code == 422 and "PARALLAX_CALLBACK_PRIVATE" in refused.text, refused.text
            assert anonymous.get("/v1/projects").json() == {"projects": []}

            # No depth maps uploaded and no model to estimate them: the project fails, and says why.
            files = [f for f in project_files(tmp_path / "nodepth", ["a", "b"]) if f[0] != "depth"]
            project = anonymous.post("/v1/projects", files=files).json()
            status = wait_for(anonymous, project["url"])
            assert status["state"] == "failed", status
            for scene in status["scenes"]:
                assert scene["depth_map"]["state"] == "failed" and str(missing_model) in scene["depth_map"]["error"]
                assert "video_url" not in status and "clip_url" not in scene
            assert any(str(missing_model) in error for error in status["errors"])
            assert anonymous.get(f"{project['url']}/video").status_code == 404

            store = tmp_path / "storage"
            store.rename(tmp_path / "storage-away")
            store.write_text("not a folder")
            health = anonymous.get("/healthz")
            assert health.status_code == 503
            assert [reason.split(":")[0] for reason in health.json()["reasons"]] == ["store"]
            store.unlink()
            (tmp_path / "storage-away").rename(store)
            assert anonymous.get("/healthz").status_code == 200
    finally:
        stop_server(server)
