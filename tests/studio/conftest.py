"""A real `parallax serve` on a loopback port (a child process, SQLite instance under a
temp DAGSTER_HOME, the tiny random depth model), and real HTTP clients for it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest

from tests.conftest import DEMO, write_small_project
from tests.processes import free_port, stop_process
from tests.tiny_models import save_tiny_depth_anything

ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789abcdef"
TINY_OUTPUT = "output: {resolution: [64, 36], fps: 24, quality: draft}\ndefaults: {duration: 1.0, transition: {type: cut}}\n"


@dataclass
class Server:
    url: str
    root: Path
    process: subprocess.Popen

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def projects(self) -> Path:
        return self.root / "projects"

    def client(self, token: str | None = ALICE) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-4000:]


def start_server(root: Path, extra_env: dict[str, str] | None = None, args: list[str] | None = None) -> Server:
    model = save_tiny_depth_anything(root / "tiny-model", with_processor=True)
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root / "dagster_home"),
        "PARALLAX_API_TOKENS": f"alice:{ALICE},bob:{BOB}",
        "PARALLAX_DEPTH_MODEL": str(model),
        "PARALLAX_DEVICE": "cpu",
        "PARALLAX_MAX_FILE_MB": "2",
        "PARALLAX_MAX_REQUEST_MB": "12",
        "PARALLAX_MAX_FILES": "40",
        "PARALLAX_MAX_SCENES": "8",
        "PARALLAX_CALLBACK_BACKOFF": "0.2",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "parallax_pipeline.cli", "serve", "--port", str(port), "--log-level", "warning",
               "--projects", str(root / "projects"), "--storage", str(root / "storage"),
               "--renders", str(root / "renders"), "--studio-dir", str(root / "studio"), *(args or [])]
    log = open(root / "server.log", "wb")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", root, process)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"parallax serve exited {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code in (200, 503):
                return server
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"parallax serve did not answer in 90 s:\n{server.log()}")


def stop_server(server: Server) -> None:
    stop_process(server.process, timeout=20)


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("studio"))
    yield running
    stop_server(running)


def project_files(folder: Path, scene_ids: list[str], extra_yaml: str = "", voiceover: bool = False) -> list[tuple]:
    """A small project's files as httpx multipart entries (field, (name, bytes))."""
    write_small_project(folder, scene_ids)
    (folder / "project.yaml").write_text(TINY_OUTPUT + extra_yaml)
    files = [("images", (p.name, p.read_bytes())) for p in sorted((folder / "images").iterdir())]
    files += [("depth", (p.name, p.read_bytes())) for p in sorted((folder / "depth").iterdir())]
    files += [("music", ("music.mp3", (folder / "audio" / "music.mp3").read_bytes()))]
    files += [("project.yaml", ("project.yaml", (folder / "project.yaml").read_bytes()))]
    if voiceover:
        voice = sorted((DEMO / "audio" / "voiceover").iterdir())[0]
        files += [("voiceover", (f"{scene_ids[0]}.wav", voice.read_bytes()))]
    return files


def wait_for(client: httpx.Client, path: str, states=("done", "failed"), timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        status = answer.json()
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, f"{path} still {status['state']} after {timeout} s: {status}"
        time.sleep(0.5)
