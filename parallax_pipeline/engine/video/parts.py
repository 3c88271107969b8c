"""A scene's frames stored the way a composition uses them, so none is encoded twice.

In a programme a scene shares its first ``overlap_in`` frames with the scene before it
(the incoming transition) and its last ``overlap_out`` frames with the scene after it;
the frames between are shown alone. `ScenePartsWriter` splits the frames as they are
made:

* ``head.npy``: frames ``[0, overlap_in)``, lossless (`lossless`), to be blended;
* ``solo.mp4``: frames ``[overlap_in, frames − overlap_out)``, an H.264 segment with the
  project's encoder settings, starting on an IDR frame: the composition copies its
  packets into the programme as they are;
* ``tail.npy``: frames ``[frames − overlap_out, frames)``, lossless, to be blended.

A part with no frames has no file. With no overlaps the solo segment is the whole clip
(what `parallax render` writes).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from parallax_pipeline.engine.video.codec import VideoSettings, VideoWriter
from parallax_pipeline.engine.video.lossless import LosslessWriter

HEAD, SOLO, TAIL = "head.npy", "solo.mp4", "tail.npy"
"""File names of the parts in a scene's folder (and their roles in the artifact store)."""


@dataclass(frozen=True)
class SceneParts:
    """Where a scene's frames are: ``head`` and ``tail`` (lossless) and ``solo`` (H.264).

    ``identity`` names what the frames are made from (a recipe) for cache keys; None
    means "hash the files"."""

    frames: int
    overlap_in: int
    overlap_out: int
    head: Path | None
    solo: Path | None
    tail: Path | None
    identity: str | None = None

    def __post_init__(self) -> None:
        if min(self.overlap_in, self.overlap_out) < 0 or self.overlap_in + self.overlap_out > self.frames:
            raise ValueError(
                f"a scene of {self.frames} frames cannot share {self.overlap_in} frames with the scene "
                f"before it and {self.overlap_out} with the one after it"
            )
        for name, path, count in (
            ("head", self.head, self.overlap_in),
            ("solo", self.solo, self.solo_frames),
            ("tail", self.tail, self.overlap_out),
        ):
            if (path is None) != (count == 0):
                raise ValueError(f"the scene's {name} part has {count} frames but file {path}")

    @classmethod
    def in_folder(cls, folder: Path, frames: int, overlap_in: int, overlap_out: int) -> SceneParts:
        """The parts of a scene as files named `HEAD`, `SOLO`, `TAIL` in ``folder``."""
        folder = Path(folder)
        solo_frames = frames - overlap_in - overlap_out
        return cls(
            frames,
            overlap_in,
            overlap_out,
            folder / HEAD if overlap_in else None,
            folder / SOLO if solo_frames else None,
            folder / TAIL if overlap_out else None,
        )

    @classmethod
    def whole(cls, path: Path, frames: int) -> SceneParts:
        """A scene with no transitions: every frame in one H.264 file, ``path``."""
        return cls(frames, 0, 0, None, Path(path), None)

    @property
    def solo_frames(self) -> int:
        return self.frames - self.overlap_in - self.overlap_out

    def encoded(self, index: int) -> bool:
        """Whether frame ``index`` goes to the H.264 segment (else it is kept lossless)."""
        return self.overlap_in <= index < self.frames - self.overlap_out

    def making_order(self) -> list[int]:
        """The frame indices in the order to make them: the solo frames in order (the
        encoder needs them so), the shared ones spread evenly among them. Made first or
        last, the shared frames would be kept while the encoder has nothing to do; spread,
        keeping them uses the time the encoder leaves free."""
        solo = range(self.overlap_in, self.frames - self.overlap_out)
        shared = [*range(self.overlap_in), *range(self.frames - self.overlap_out, self.frames)]
        spread = [((i + 0.5) / len(solo), 1, index) for i, index in enumerate(solo)]
        spread += [((j + 0.5) / len(shared), 0, index) for j, index in enumerate(shared)]
        return [index for *_, index in sorted(spread)]


class ScenePartsWriter:
    """Write a scene's frames into its `SceneParts` files.

    Use as a context manager; each file is written atomically, and all are removed if
    the block fails or a frame is missing. `write` takes the frames in order; a renderer
    that makes them out of order (`SceneParts.making_order`) hands the solo frames to
    `encode`, in order, and the shared ones to `keep`, in any order and from any thread.
    Frames are uint8 RGB(A) arrays; `encode` also takes a picture `yuv.to_picture` made
    already (in another thread, say).
    """

    def __init__(self, parts: SceneParts, settings: VideoSettings):
        self.parts = parts
        self.settings = settings
        self._stack = ExitStack()
        self._head = self._solo = self._tail = None

    def __enter__(self) -> ScenePartsWriter:
        p, s = self.parts, self.settings
        with ExitStack() as opening:
            if p.head is not None:
                self._head = opening.enter_context(LosslessWriter(p.head, p.overlap_in, s.width, s.height))
            if p.solo is not None:
                self._solo = opening.enter_context(VideoWriter(p.solo, s))
            if p.tail is not None:
                self._tail = opening.enter_context(LosslessWriter(p.tail, p.overlap_out, s.width, s.height))
            self._stack = opening.pop_all()
        return self

    @property
    def frames_written(self) -> int:
        return sum(writer.frames_written for writer in (self._head, self._solo, self._tail) if writer is not None)

    def write(self, frame: np.ndarray) -> None:
        """The next frame of the scene, in order."""
        index = self.frames_written
        if index >= self.parts.frames:
            raise ValueError(f"the scene has {self.parts.frames} frames; frame {index} is one too many")
        if self.parts.encoded(index):
            self.encode(frame)
        else:
            self.keep(index, frame)

    def encode(self, frame: np.ndarray | av.VideoFrame) -> None:
        """The next solo frame."""
        if self._solo is None or self._solo.frames_written == self.parts.solo_frames:
            raise ValueError(f"the scene shows {self.parts.solo_frames} frames alone; one more was given")
        self._solo.write(frame)

    def keep(self, index: int, frame: np.ndarray) -> None:
        """Shared frame ``index`` of the scene (in its head or its tail), kept exactly."""
        p = self.parts
        if 0 <= index < p.overlap_in:
            self._head.put(index, frame)
        elif p.frames - p.overlap_out <= index < p.frames:
            self._tail.put(index - (p.frames - p.overlap_out), frame)
        else:
            raise ValueError(f"frame {index} of the scene is not shared with a neighbour (frames {p.overlap_in} "
                             f"to {p.frames - p.overlap_out - 1} are shown alone)")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None and self.frames_written != self.parts.frames:
            error = ValueError(f"{self.frames_written} frames written of the scene's {self.parts.frames}")
            self._stack.__exit__(ValueError, error, None)
            raise error
        self._stack.__exit__(exc_type, exc, tb)
