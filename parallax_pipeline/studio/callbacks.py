"""Callbacks: when a job ends, its ``callback_url`` gets a signed JSON POST.

The body is the job's status (state, URLs, errors); the header ``X-Parallax-Signature:
sha256=<hex>`` is HMAC-SHA256 of the exact body bytes under the owner's callback secret
(`GET /v1/me`). Deliveries run on their own thread, so a slow or dead receiver never
holds up rendering; a failed delivery (no answer, or a status other than 2xx) is tried
again after `backoff`, 2·`backoff`, 4·`backoff` … seconds, `attempts` times in all.
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from parallax_pipeline.studio.auth import sign_body
from parallax_pipeline.studio.background import BackgroundLoop
from parallax_pipeline.studio.errors import Problem, Refused

log = logging.getLogger("parallax.studio")
TIMEOUT_SECONDS = 10.0


def check_callback_url(url: str | None, allow_private: bool, field_name: str = "callback_url") -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(422, [Problem(("body", field_name), f"callback_url must be an http(s) URL, got {url!r}")])
    inside = None if allow_private else private_address(parts.hostname)
    if inside:
        raise Refused(422, [Problem(("body", field_name), f"callback_url {url!r}: {inside}")])
    return url


def private_address(host: str) -> str | None:
    """Why the service must not call ``host`` (it resolves to this machine or a private
    network: a callback could then reach what only the service can), or None."""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        return f"{host} does not resolve ({error})"
    for address in sorted(found):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return (
                f"{host} is {address}, a private, loopback or reserved address; callbacks go to public "
                "addresses only unless PARALLAX_CALLBACK_PRIVATE=1 (the default when serving on loopback)"
            )
    return None


@dataclass(order=True)
class _Delivery:
    due: float
    attempt: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    signature: str = field(compare=False)


class CallbackSender(BackgroundLoop):
    def __init__(self, attempts: int, backoff: float, allow_private: bool):
        super().__init__("parallax-callbacks")
        self.attempts, self.backoff, self.allow_private = attempts, backoff, allow_private
        self._pending: list[_Delivery] = []
        self.delivered = 0
        self.abandoned: list[str] = []

    def send(self, url: str, secret: str, payload: dict) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        with self._cond:
            heapq.heappush(self._pending, _Delivery(time.monotonic(), 1, url, body, sign_body(secret, body)))
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._pending or self._pending[0].due > time.monotonic()):
                    self._cond.wait(timeout=(self._pending[0].due - time.monotonic()) if self._pending else None)
                if self._stopping:
                    return
                delivery = heapq.heappop(self._pending)
            error = self._post(delivery)
            if error is None:
                self.delivered += 1
                continue
            if delivery.attempt >= self.attempts:
                self.abandoned.append(f"{delivery.url}: {error} ({delivery.attempt} attempts)")
                log.warning("callback to %s abandoned after %d attempts: %s", delivery.url, delivery.attempt, error)
                continue
            delivery.due = time.monotonic() + self.backoff * 2 ** (delivery.attempt - 1)
            delivery.attempt += 1
            with self._cond:
                heapq.heappush(self._pending, delivery)

    def _post(self, delivery: _Delivery) -> str | None:
        # checked again when sent: the name may resolve elsewhere by now
        inside = None if self.allow_private else private_address(urlsplit(delivery.url).hostname or "")
        if inside:
            return inside
        request = urllib.request.Request(
            delivery.url, data=delivery.body, method="POST",
            headers={"Content-Type": "application/json", "X-Parallax-Signature": delivery.signature,
                     "X-Parallax-Attempt": str(delivery.attempt), "User-Agent": "parallax-studio"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) checked
                return None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code}"
        except (urllib.error.URLError, OSError) as err:
            return str(getattr(err, "reason", err))
