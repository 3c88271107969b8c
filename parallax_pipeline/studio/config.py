"""What `parallax serve` is configured with: folders, limits, tokens, callback retries.

Everything comes from the command line or the environment (`StudioConfig.from_env`), so
the server, its tests and a deployment read the same settings the same way.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from parallax_pipeline.engine.depth.model import DEFAULT_MODEL
from parallax_pipeline.store_backends import store_location

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one request may bring. Every upload is streamed to disk and counted as it
    arrives, so a request over a limit is refused (413) without being held in memory."""

    file_bytes: int = 200 * MIB
    """One uploaded file (``PARALLAX_MAX_FILE_MB``)."""
    request_bytes: int = 1024 * MIB
    """One request's body (``PARALLAX_MAX_REQUEST_MB``)."""
    files: int = 300
    """Files in one request (``PARALLAX_MAX_FILES``)."""
    scenes: int = 200
    """Scenes in one project (``PARALLAX_MAX_SCENES``; the pipeline's own bound is 999)."""
    field_bytes: int = 64 * 1024
    """A text field (a callback URL, settings JSON): small by nature."""

    @classmethod
    def from_env(cls) -> Limits:
        def megabytes(name: str, default: int) -> int:
            value = os.environ.get(name)
            return int(float(value) * MIB) if value else default

        return cls(
            file_bytes=megabytes("PARALLAX_MAX_FILE_MB", cls.file_bytes),
            request_bytes=megabytes("PARALLAX_MAX_REQUEST_MB", cls.request_bytes),
            files=int(os.environ.get("PARALLAX_MAX_FILES", cls.files)),
            scenes=int(os.environ.get("PARALLAX_MAX_SCENES", cls.scenes)),
        )


@dataclass(frozen=True)
class StudioConfig:
    projects: Path
    storage: str
    """A folder or ``s3://bucket/prefix`` (see `store_backends`)."""
    renders: Path
    studio: Path
    """The service's own records: single-picture jobs and their inputs, the URL key."""
    depth_model: str = DEFAULT_MODEL
    device: str = "auto"
    limits: Limits = field(default_factory=Limits)
    tokens_text: str = ""
    """``name:token,name2:token2`` (see `auth.Tokens`); empty: no tokens."""
    callback_private: bool = False
    """Whether callbacks may go to loopback and private addresses (PARALLAX_CALLBACK_PRIVATE;
    `parallax serve` on a loopback address allows them when the variable is unset)."""
    callback_attempts: int = 5
    callback_backoff: float = 1.0
    """Seconds before the second attempt; doubled for each one after."""
    url_seconds: int = 24 * 3600
    """How long the signed media URLs in responses stay valid."""

    @classmethod
    def from_env(cls, projects: str, storage: str, renders: str, studio: str) -> StudioConfig:
        return cls(
            projects=Path(os.environ.get("PARALLAX_PROJECTS_DIR") or projects).resolve(),
            storage=store_location(os.environ.get("PARALLAX_STORAGE_DIR") or storage),
            renders=Path(os.environ.get("PARALLAX_RENDERS_DIR") or renders).resolve(),
            studio=Path(os.environ.get("PARALLAX_STUDIO_DIR") or studio).resolve(),
            depth_model=os.environ.get("PARALLAX_DEPTH_MODEL", DEFAULT_MODEL),
            device=os.environ.get("PARALLAX_DEVICE", "auto"),
            limits=Limits.from_env(),
            tokens_text=_tokens_text(),
            callback_private=os.environ.get("PARALLAX_CALLBACK_PRIVATE", "") == "1",
            callback_attempts=int(os.environ.get("PARALLAX_CALLBACK_ATTEMPTS", "5")),
            callback_backoff=float(os.environ.get("PARALLAX_CALLBACK_BACKOFF", "1.0")),
        )


def _tokens_text() -> str:
    path = os.environ.get("PARALLAX_API_TOKENS_FILE")
    if path:
        try:
            return Path(path).read_text()
        except OSError as err:
            raise SystemExit(f"PARALLAX_API_TOKENS_FILE={path}: cannot be read ({err.strerror or err})") from err
    return os.environ.get("PARALLAX_API_TOKENS", "")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
