"""Who is asking: bearer tokens, owners, signed media URLs and callback secrets.

Tokens are configured as ``name:token`` pairs; only their SHA-256 digests are kept, and a
presented token is compared with every digest in constant time (`hmac.compare_digest`),
so neither the tokens nor which one nearly matched leak. With no tokens configured the
service runs open as the single owner ``local``, which `serve` allows on loopback only.

Media URLs in responses carry an expiry and an HMAC of path and expiry under the
service's key (``<studio>/url.key``), so a ``<video src>`` or a callback receiver can
fetch a result without the token. The same key derives each owner's callback secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path

from parallax_pipeline.engine.files import write_atomic

OPEN_OWNER = "local"
_OWNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_TOKEN_CHARS = 16


class TokenConfigError(ValueError):
    """The configured tokens cannot be used; the message says which entry and why."""


class Tokens:
    def __init__(self, text: str):
        self._digests: list[tuple[bytes, str]] = []
        entries = [entry.strip() for line in text.splitlines() for entry in line.split(",")]
        for number, entry in enumerate((e for e in entries if e and not e.startswith("#")), start=1):
            name, sep, token = entry.partition(":")
            name, token = name.strip(), token.strip()
            if not sep or not _OWNER_NAME.match(name):
                raise TokenConfigError(f"token entry {number}: expected name:token with a name of letters, digits, '.', '-', '_'")
            if len(token) < MIN_TOKEN_CHARS:
                raise TokenConfigError(f"token entry {number} ({name}): a token needs at least {MIN_TOKEN_CHARS} characters")
            self._digests.append((hashlib.sha256(token.encode()).digest(), name))

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def owner(self, token: str) -> str | None:
        """The owner of ``token``; None when it is nobody's. Every digest is compared."""
        presented = hashlib.sha256(token.encode()).digest()
        found = None
        for digest, name in self._digests:
            if hmac.compare_digest(digest, presented):
                found = name
        return found


class Signer:
    """Signed, expiring URLs and per-owner callback secrets from one key kept on disk."""

    def __init__(self, key_file: Path):
        if not key_file.is_file():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(key_file, secrets.token_bytes(32))
            key_file.chmod(0o600)
        self._key = key_file.read_bytes()

    def _mac(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def url(self, path: str, seconds: int) -> str:
        expires = int(time.time()) + seconds
        signature = self._mac(f"{path}\n{expires}")
        return f"{path}?expires={expires}&signature={signature}"

    def valid(self, path: str, expires: str | None, signature: str | None) -> bool:
        if not expires or not signature or not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self._mac(f"{path}\n{expires}"), signature)

    def callback_secret(self, owner: str) -> str:
        """The key an owner checks its callbacks' ``X-Parallax-Signature`` with (`GET /v1/me`)."""
        return self._mac(f"callback-secret\n{owner}")


def sign_body(secret: str, body: bytes) -> str:
    """The ``X-Parallax-Signature`` header value of a callback body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
