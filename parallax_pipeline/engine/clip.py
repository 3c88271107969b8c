"""One parallax clip from one picture, straight into an MP4.

`render_clip` is the single-image job shared by the `parallax_clip` asset and the
`parallax render` command: per-clip preparation (camera path, overscan, layers and
their inpainting; see `parallax_pipeline.engine.parallax`), then the frames, each
handed to the H.264 encoder as soon as it is made.

Rendering runs in a worker thread one or two frames ahead of the encoder. OpenCV,
numpy and FFmpeg all release the GIL while they work, so the warp of frame n+1 uses the
CPU time the encoder leaves free while it compresses frame n; the clip then costs
little more wall time than encoding alone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parallax_pipeline.engine import encode, parallax
from parallax_pipeline.engine.camera import Motion

AHEAD = 2
"""Frames the renderer may run ahead of the encoder (each one frame of memory)."""


@dataclass(frozen=True)
class ClipReport:
    """What `render_clip` made: frame count, the poster frame (uint8 RGB, or None),
    seconds spent preparing (before the first frame) and in all, and the layers used."""

    frames: int
    poster: np.ndarray | None
    prepare_seconds: float
    total_seconds: float
    layers: int


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


def encode_ahead(
    frames: Iterator[np.ndarray],
    path: Path,
    settings: encode.VideoSettings,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    ahead: int = AHEAD,
) -> int:
    """Encode ``frames`` into ``path`` (atomically, via `encode.VideoWriter`) while a
    worker thread pulls the next ones from the iterator; returns the frame count.

    ``on_frame(index, frame)`` is called for every frame, in order, after it is written.
    An exception in the iterator is raised here, and the partial file is removed.
    """
    handoff: queue.Queue = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        """Queue `item`, waiting while the consumer is busy; False once it has stopped."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        item: object = _DONE
        try:
            for frame in frames:
                if not hand_over(frame):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            item = _Failed(error)
        hand_over(item)

    worker = threading.Thread(target=produce, name="parallax-render", daemon=True)
    worker.start()
    try:
        with encode.VideoWriter(path, settings) as writer:
            while True:
                item = handoff.get()
                if item is _DONE:
                    break
                if isinstance(item, _Failed):
                    raise item.error
                writer.write(item)
                if on_frame is not None:
                    on_frame(writer.frames_written - 1, item)
        return writer.frames_written
    finally:
        stop.set()
        worker.join()


def render_clip(
    image: np.ndarray,
    disparity: np.ndarray,
    motion: Motion,
    frames: int,
    settings: encode.VideoSettings,
    path: Path,
    fit: str = "cover",
    backend: str = "auto",
    on_progress: Callable[[int, int], None] | None = None,
    poster_index: int | None = None,
) -> ClipReport:
    """Render ``frames`` frames of ``motion`` through ``image`` (uint8 RGB) and its
    ``disparity`` (float32 in [0, 1], any size) at the settings' size and encode them to
    ``path`` (H.264, yuv420p, faststart; written atomically).

    ``on_progress(done, total)`` is called after every frame. ``poster_index`` (default:
    the middle frame) picks the frame returned as the poster.
    """
    started = time.perf_counter()
    size = (settings.width, settings.height)
    stream = parallax.render_frames(image, disparity, motion, frames, size, fit=fit, backend=backend)
    prepared = time.perf_counter()
    poster_at = frames // 2 if poster_index is None else min(max(0, poster_index), frames - 1)
    kept: dict[str, np.ndarray] = {}

    def on_frame(index: int, frame: np.ndarray) -> None:
        if index == poster_at:
            kept["poster"] = frame
        if on_progress is not None:
            on_progress(index + 1, frames)

    written = encode_ahead(stream, Path(path), settings, on_frame)
    renderer = getattr(stream, "renderer", None)
    layers = len(renderer.scene.layers) if renderer is not None else 0
    return ClipReport(
        frames=written,
        poster=kept.get("poster"),
        prepare_seconds=prepared - started,
        total_seconds=time.perf_counter() - started,
        layers=layers,
    )
