"""A real S3-protocol server for the tests: moto's server (`python -m moto.server`, the
process behind its `ThreadedMotoServer`) on a loopback port, speaking HTTP, the same
requests boto3 sends to AWS S3 or MinIO; one bucket per test. Its own process, so what
the store holds in memory can be measured apart from what the server keeps."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, stop_process

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "parallax-test", "AWS_SECRET_ACCESS_KEY": "parallax-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Server:
    process: subprocess.Popen
    endpoint: str
    log: Path
    """moto's output (removed with the server)."""

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 (and the store) at this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self):
        import boto3

        return boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.endpoint)

    def new_bucket(self) -> str:
        name = f"parallax-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Key -> size of every object under ``prefix``."""
        found = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["Size"]
        return found

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        self.log.unlink(missing_ok=True)


def start_s3() -> S3Server:
    port = free_port()
    # a file, not a pipe: moto logs every request, and a pipe nobody reads fills up (64 KB)
    # and blocks the server's threads in the middle of a response
    log = tempfile.NamedTemporaryFile(prefix="parallax-moto-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=log,
    )
    log.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                said = Path(log.name).read_text(errors="replace")[-2000:]
                Path(log.name).unlink(missing_ok=True)
                raise RuntimeError(f"moto's S3 server did not start on 127.0.0.1:{port}: {said}")
            time.sleep(0.1)
    return S3Server(process=process, endpoint=f"http://127.0.0.1:{port}", log=Path(log.name))
