"""One parallax clip from one picture, straight into an MP4.

`render_clip` is the `parallax render` command's job; `render_scene` the same for a
scene of a project (the `parallax_clip` asset), whose frames are split into the parts a
composition uses (`video.parts`: the frames it shows alone as an H.264 segment, the ones
its transitions blend kept lossless). Both do the per-clip preparation (camera path,
overscan, layers and their inpainting; see `parallax_pipeline.engine.parallax`), then
the frames, each handed to the encoder (or the lossless file) as soon as it is made.

Frames are rendered, and converted to the encoder's yuv420p pictures, by a small pool
of worker threads a few frames ahead of the encoder, and handed to it in order. OpenCV,
numpy, the compiled kernels and FFmpeg all release the GIL while they work, so the
warps of the next frames use the CPU time the encoder leaves free while it compresses
the current one; each worker runs OpenCV single-threaded (splitting a frame's small
warps across threads costs more than it gains), and the frames themselves are the unit
of parallelism.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from parallax_pipeline.engine.memory import reuse_freed_memory
from parallax_pipeline.engine.parallax import renderer
from parallax_pipeline.engine.parallax.camera import Motion
from parallax_pipeline.engine.video.codec import VideoSettings, VideoWriter
from parallax_pipeline.engine.video.parts import SceneParts, ScenePartsWriter
from parallax_pipeline.engine.video.yuv import to_picture

RENDER_WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Threads rendering frames while the encoder works (x264 takes the rest of the CPU)."""
AHEAD_PER_WORKER = 2
"""Frames each worker may run ahead of the encoder (each one frame of memory)."""
RENDER_NICENESS = 10
"""How much lower the render threads' scheduling priority is than the encoder's (Linux).
x264's frame threads wait on one another: a render thread that takes a core from one of
them holds up the whole encoder, while at a lower priority the renders fill the time the
encoder leaves idle (measured on 2 cores: 1.9 instead of 1.75 cores busy, 10 % more frames
per second)."""


@dataclass(frozen=True)
class ClipReport:
    """What `render_clip` made: frame count, the poster frame (uint8 RGB, or None),
    seconds spent preparing (before the first frame) and in all, and the layers used."""

    frames: int
    poster: np.ndarray | None
    prepare_seconds: float
    total_seconds: float
    layers: int


@contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """OpenCV's own thread count set to ``count`` for the block (a process-wide setting)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def yield_to_encoder() -> None:
    """Lower the calling thread's scheduling priority by `RENDER_NICENESS` (Linux, where
    a thread has its own nice value; elsewhere nothing changes)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + RENDER_NICENESS))
    except OSError:
        pass  # not allowed here: the thread keeps its priority


def render_ahead(make: Callable[[int], np.ndarray], count: int, workers: int = RENDER_WORKERS) -> Iterator[np.ndarray]:
    """``make(0)`` … ``make(count − 1)``, computed by ``workers`` threads at most
    `AHEAD_PER_WORKER` frames per worker ahead of the consumer, yielded in order.

    The threads run at a lower priority than the caller (`yield_to_encoder`). An
    exception in ``make`` is raised here, at its frame; frames not yet started when the
    consumer stops (or fails) are never made."""
    ahead = max(1, workers) * AHEAD_PER_WORKER
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="parallax-render", initializer=yield_to_encoder
    ) as pool:
        pending: deque[Future] = deque()
        try:
            for index in range(count):
                while len(pending) < ahead and index + len(pending) < count:
                    pending.append(pool.submit(make, index + len(pending)))
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def encode_ahead(
    make: Callable[[int], np.ndarray | av.VideoFrame],
    count: int,
    path: Path,
    settings: VideoSettings,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    workers: int = RENDER_WORKERS,
) -> int:
    """Encode frames ``make(0)`` … ``make(count − 1)`` (arrays, or pictures made by
    `to_picture`) into ``path`` (atomically, via `VideoWriter`) while
    ``workers`` threads make the next ones; returns the frame count.

    ``on_frame(index, frame)`` is called for every frame, in order, after it is written.
    An exception in ``make`` is raised here, and the partial file is removed.
    """
    with VideoWriter(path, settings) as writer:
        for frame in render_ahead(make, count, workers):
            writer.write(frame)
            if on_frame is not None:
                on_frame(writer.frames_written - 1, frame)
    return writer.frames_written


def render_clip(
    image: np.ndarray,
    disparity: np.ndarray,
    motion: Motion,
    frames: int,
    settings: VideoSettings,
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
    return render_scene(
        image, disparity, motion, SceneParts.whole(path, frames), settings, fit, backend, on_progress, poster_index
    )


def render_scene(
    image: np.ndarray,
    disparity: np.ndarray,
    motion: Motion,
    parts: SceneParts,
    settings: VideoSettings,
    fit: str = "cover",
    backend: str = "auto",
    on_progress: Callable[[int, int], None] | None = None,
    poster_index: int | None = None,
) -> ClipReport:
    """As `render_clip`, for a scene of a programme: its ``parts.frames`` frames go to
    ``parts``, the ones it shows alone encoded as an H.264 segment, the ones shared with
    its neighbours' transitions kept lossless (see `video.parts`). Each frame is rendered
    once and only the solo frames are encoded; the shared ones are made among the solo
    ones (`SceneParts.making_order`) so that keeping them overlaps the encoder's work."""
    started = time.perf_counter()
    reuse_freed_memory()  # a clip's arrays come and go by the MB: keep their pages
    frames = parts.frames
    size = (settings.width, settings.height)
    stream = renderer.render_frames(image, disparity, motion, frames, size, fit=fit, backend=backend)
    prepared = time.perf_counter()
    poster_at = frames // 2 if poster_index is None else min(max(0, poster_index), frames - 1)
    kept: dict[str, np.ndarray] = {}

    order = parts.making_order()

    def make(position: int) -> av.VideoFrame | None:
        # rendered and converted to the encoder's picture in the worker: the colour
        # conversion runs beside the encoder instead of between its frames; a frame a
        # transition shares is copied into its lossless file here too
        index = order[position]
        frame = stream.frame_rgba(index)
        if index == poster_at:
            kept["poster"] = cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB)  # 1 ms; numpy's strided copy 8+
        if parts.encoded(index):
            return to_picture(frame)
        writer.keep(index, frame)
        return None

    # the torch renderer keeps the GPU busy from one thread
    workers = RENDER_WORKERS if isinstance(stream.renderer, renderer.ClipRenderer) else 1
    with opencv_threads(1), ScenePartsWriter(parts, settings) as writer:
        for done, picture in enumerate(render_ahead(make, frames, workers), 1):
            if picture is not None:
                writer.encode(picture)
            if on_progress is not None:
                on_progress(done, frames)
    return ClipReport(
        frames=writer.frames_written,
        poster=kept.get("poster"),
        prepare_seconds=prepared - started,
        total_seconds=time.perf_counter() - started,
        layers=len(stream.renderer.scene.layers),
    )
