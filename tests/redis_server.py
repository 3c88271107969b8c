"""A real Redis server for the tests (the Celery broker of the multi-worker test): Debian's
``redis-server`` on a free loopback port, its files in a temp folder, no persistence,
stopped and deleted afterwards. ``PARALLAX_REDIS_SERVER`` names another executable."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, stop_process


def _executable() -> str:
    found = os.environ.get("PARALLAX_REDIS_SERVER") or shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server on PATH (Debian: apt-get install -y redis-server; "
                           "or set PARALLAX_REDIS_SERVER to the executable)")
    return found


@dataclass
class RedisServer:
    process: subprocess.Popen
    folder: Path
    port: int
    host: str = "127.0.0.1"

    def url(self, database: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{database}"

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_redis() -> RedisServer:
    executable = _executable()
    folder = Path(tempfile.mkdtemp(prefix="parallax-redis-"))
    port = free_port()
    with open(folder / "stderr.log", "wb") as stderr:  # a file: a pipe nobody reads fills up
        process = subprocess.Popen(
            [executable, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--logfile", str(folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    server = RedisServer(process=process, folder=folder, port=port)
    deadline = time.monotonic() + 30
    while not server.ping():
        if process.poll() is not None or time.monotonic() > deadline:
            said = [path.read_text(errors="replace")[-2000:] for path in (folder / "redis.log", folder / "stderr.log") if path.is_file()]
            detail = "\n".join(said)
            server.stop()
            raise RuntimeError(f"redis-server did not start on 127.0.0.1:{port}: {detail}")
        time.sleep(0.05)
    return server
