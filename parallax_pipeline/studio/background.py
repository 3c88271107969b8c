"""The service's background threads: each runs its ``_loop`` until stopped."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """A daemon thread running ``self._loop()``; ``_loop`` waits on ``self._cond`` and
    returns once ``self._stopping`` is set."""

    def __init__(self, name: str):
        self._cond = threading.Condition()
        self._stopping = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
