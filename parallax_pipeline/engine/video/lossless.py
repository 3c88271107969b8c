"""Frames kept exactly as they were rendered: uint8 RGB in one uncompressed ``.npy`` file.

A composition blends a scene's first and last frames into its transitions; blending
frames that were already compressed and compressing the blend again loses picture twice.
So those frames are kept losslessly and read back as a memory map (no decoding at all).

Why uncompressed: at 1080p on the 2-core development machine, writing a frame costs about
5 ms, while FFmpeg's fastest lossless codecs cost 14–27 ms to encode and 12–24 ms to
decode one (utvideo 1.5 MB a frame, ffvhuff 2.1 MB, x264 lossless 0.9 MB, against 6.2 MB
raw). Transition frames are few (a 0.8 s dissolve at 30 fps keeps 24 frames a side), so
the store spends disk rather than the encoder's CPU time.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import AtomicFile, check_input_file


class LosslessWriter:
    """Write ``count`` RGB frames of ``width`` × ``height`` to ``path``.

    Use as a context manager; the file appears under its name only when every frame was
    written (`files.AtomicFile`), and an exception leaves nothing behind. Frames may be
    RGB or RGBA (alpha dropped) and strided. `write` appends the next frame; `put` fills
    a frame by its position, in any order and from several threads at once (each copy
    goes straight into the file's pages).
    """

    def __init__(self, path: Path, count: int, width: int, height: int):
        if count < 1:
            raise ValueError(f"{path}: a lossless frame file needs at least one frame, got {count}")
        self.path = Path(path)
        self.shape = (count, height, width, 3)
        self._filled = np.zeros(count, bool)
        self._output = AtomicFile(self.path)
        self._frames: np.memmap | None = None

    @property
    def frames_written(self) -> int:
        return int(self._filled.sum())

    def __enter__(self) -> LosslessWriter:
        self._frames = np.lib.format.open_memmap(self._output.tmp, mode="w+", dtype=np.uint8, shape=self.shape)
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append ``frame`` after the frames written so far."""
        self.put(self.frames_written, frame)

    def put(self, position: int, frame: np.ndarray) -> None:
        """Frame ``position`` (0 … count − 1) of the file."""
        if self._frames is None:
            raise RuntimeError("LosslessWriter used outside its `with` block")
        if not 0 <= position < self.shape[0]:
            raise ValueError(f"{self.path}: frame {position} is outside the {self.shape[0]} frames it was opened for")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[:2] != self.shape[1:3] or frame.shape[2] not in (3, 4):
            raise ValueError(f"{self.path}: frame {frame.shape} {frame.dtype} is not uint8 RGB(A) of {self.shape[1:3]}")
        if frame.shape[2] == 4:
            # OpenCV drops the alpha in about 1 ms a 1080p frame, straight into the file's
            # pages; numpy's copy of three bytes in four takes 8 to 19 ms (a render worker's
            # time, 48 frames a scene between two transitions)
            cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB, dst=self._frames[position])
        else:
            self._frames[position] = frame
        self._filled[position] = True

    def __exit__(self, exc_type, exc, tb) -> None:
        frames, self._frames = self._frames, None
        complete = exc is None and self._filled.all()
        if complete:
            frames.flush()
        del frames  # unmapped before the file is renamed or deleted
        if complete:
            self._output.commit()
            return
        self._output.discard()
        if exc is None:
            raise ValueError(f"{self.path}: {self.frames_written} frames written of the {self.shape[0]} promised")


def read_lossless(path: Path, width: int, height: int) -> np.ndarray:
    """The frames of a `LosslessWriter` file as a read-only (count, height, width, 3) uint8
    array, memory-mapped. Raises MediaError naming the file when it is not one, or holds
    frames of another size."""
    path = check_input_file(path)
    try:
        frames = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:
        raise MediaError(f"{path}: not a lossless frame file ({err})") from err
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or not len(frames):
        raise MediaError(f"{path}: holds {frames.dtype} {frames.shape}, not uint8 RGB frames")
    if frames.shape[1:3] != (height, width):
        raise MediaError(f"{path}: frames are {frames.shape[2]}x{frames.shape[1]}, expected {width}x{height}")
    return frames
