"""Frames kept exactly as they were rendered: uint8 RGB in one uncompressed ``.npy`` file.

A composition blends a scene's first and last frames into its transitions; blending
frames that were already compressed and compressing the blend again loses picture twice.
So those frames are kept losslessly and read back frame by frame (no decoding at all).

Why uncompressed: at 1080p on the 2-core development machine, writing a frame costs about
5 ms, while FFmpeg's fastest lossless codecs cost 14–27 ms to encode and 12–24 ms to
decode one (utvideo 1.5 MB a frame, ffvhuff 2.1 MB, x264 lossless 0.9 MB, against 6.2 MB
raw). Transition frames are few (a 0.8 s dissolve at 30 fps keeps 24 frames a side), so
the store spends disk rather than the encoder's CPU time.

The layout: a ``.npy`` file (``np.load`` reads it) of ``count`` records, each one frame
(field ``frame``, height × width × 3) padded to whole `files.DIRECT_ALIGN` blocks, after
a header of one block. Every frame thus starts on a block and is written and read with
direct I/O (`files.DirectFile`), bypassing the page cache: the 300 MB of a 1080p scene's
48 frames would otherwise be held in fresh memory twice over (the writer's and the
reader's pages). Files of the earlier layout (frames back to back after numpy's own
header) are still read.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import cv2
import numpy as np

from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import (
    DIRECT_ALIGN,
    AtomicFile,
    DirectFile,
    check_input_file,
    direct_buffer,
)

HEADER_BYTES = DIRECT_ALIGN
"""The header's length: the first frame starts on a block."""


def frame_dtype(width: int, height: int) -> np.dtype:
    """One record of a lossless file: the frame, padded to whole `DIRECT_ALIGN` blocks."""
    frame = height * width * 3
    slot = -(-frame // DIRECT_ALIGN) * DIRECT_ALIGN
    return np.dtype({"names": ["frame"], "formats": [("u1", (height, width, 3))], "offsets": [0], "itemsize": slot})


def _header(count: int, dtype: np.dtype) -> bytes:
    """A ``.npy`` version 1.0 header for ``count`` records of ``dtype``, padded with spaces
    to `HEADER_BYTES` (numpy reads headers of any length)."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (count,)}).encode("latin1")
    magic = np.lib.format.magic(1, 0)
    padding = HEADER_BYTES - len(magic) - 2 - len(text) - 1
    if padding < 0:
        raise ValueError(f"a lossless header for {dtype} does not fit in {HEADER_BYTES} bytes")
    return magic + struct.pack("<H", len(text) + padding + 1) + text + b" " * padding + b"\n"


class LosslessWriter:
    """Write ``count`` RGB frames of ``width`` × ``height`` to ``path``.

    Use as a context manager; the file appears under its name only when every frame was
    written (`files.AtomicFile`), and an exception leaves nothing behind. Frames may be
    RGB or RGBA (alpha dropped) and strided. `write` appends the next frame; `put` writes
    a frame by its position, in any order and from several threads at once (each thread
    stages its frames in its own buffer).
    """

    def __init__(self, path: Path, count: int, width: int, height: int):
        if count < 1:
            raise ValueError(f"{path}: a lossless frame file needs at least one frame, got {count}")
        self.path = Path(path)
        self.shape = (count, height, width, 3)
        self._dtype = frame_dtype(width, height)
        self._filled = np.zeros(count, bool)
        self._output = AtomicFile(self.path)
        self._file: DirectFile | None = None

    @property
    def frames_written(self) -> int:
        return int(self._filled.sum())

    def __enter__(self) -> LosslessWriter:
        self._file = DirectFile(self._output.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        header = direct_buffer(HEADER_BYTES)
        header[:HEADER_BYTES] = _header(self.shape[0], self._dtype)
        self._file.write(memoryview(header)[:HEADER_BYTES], 0)
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append ``frame`` after the frames written so far."""
        self.put(self.frames_written, frame)

    def put(self, position: int, frame: np.ndarray) -> None:
        """Frame ``position`` (0 … count − 1) of the file."""
        if self._file is None:
            raise RuntimeError("LosslessWriter used outside its `with` block")
        if not 0 <= position < self.shape[0]:
            raise ValueError(f"{self.path}: frame {position} is outside the {self.shape[0]} frames it was opened for")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[:2] != self.shape[1:3] or frame.shape[2] not in (3, 4):
            raise ValueError(f"{self.path}: frame {frame.shape} {frame.dtype} is not uint8 RGB(A) of {self.shape[1:3]}")
        slot = self._dtype.itemsize
        buffer = direct_buffer(slot)
        staged = np.frombuffer(buffer, np.uint8, count=int(np.prod(self.shape[1:]))).reshape(self.shape[1:])
        if frame.shape[2] == 4:
            # OpenCV drops the alpha in about 1 ms a 1080p frame; numpy's copy of three
            # bytes in four takes 8 to 19 ms (a render worker's time, 48 frames a scene
            # between two transitions)
            cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB, dst=staged)
        else:
            staged[...] = frame
        # the padding after the frame goes to the file as it is: no reader looks at it
        self._file.write(memoryview(buffer)[:slot], HEADER_BYTES + position * slot)
        self._filled[position] = True

    def __exit__(self, exc_type, exc, tb) -> None:
        file, self._file = self._file, None
        file.close()
        if exc is None and self._filled.all():
            self._output.commit()
            return
        self._output.discard()
        if exc is None:
            raise ValueError(f"{self.path}: {self.frames_written} frames written of the {self.shape[0]} promised")


class LosslessFrames:
    """The frames of a lossless file (`read_lossless`): ``len``, ``frames[k]`` (a new
    uint8 height × width × 3 array, read directly from the disk) and ``np.asarray(frames)``
    (all of them, count × height × width × 3)."""

    def __init__(self, path: Path, count: int, width: int, height: int, offset: int, stride: int):
        self.path, self.shape = path, (count, height, width, 3)
        self._offset, self._stride = offset, stride

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.path}: frame {index} of {len(self)}")
        index %= len(self)
        start = self._offset + index * self._stride
        # whole blocks around the frame (a frame of the earlier layout starts anywhere)
        first = start - start % DIRECT_ALIGN
        nbytes = int(np.prod(self.shape[1:]))
        want = start - first + nbytes
        span = -(-want // DIRECT_ALIGN) * DIRECT_ALIGN
        buffer = direct_buffer(span)
        with DirectFile(self.path, os.O_RDONLY) as file:
            got = 0
            while got < want:
                count = file.read_into(memoryview(buffer)[got:span], first + got)
                if count == 0:
                    raise MediaError(f"{self.path}: ends inside frame {index} (truncated)")
                got += count
        frame = np.frombuffer(buffer, np.uint8, count=nbytes, offset=start - first)
        return frame.reshape(self.shape[1:]).copy()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        frames = np.stack([self[k] for k in range(len(self))])
        return frames if dtype is None else frames.astype(dtype)


def read_lossless(path: Path, width: int, height: int) -> LosslessFrames:
    """The frames of a `LosslessWriter` file. Raises MediaError naming the file when it
    is not one, holds frames of another size, or is shorter than its header says."""
    path = check_input_file(path)
    try:
        # the header is in the first block (both layouts): read directly, like the frames
        block = direct_buffer(HEADER_BYTES)
        with DirectFile(path, os.O_RDONLY) as file:
            got = file.read_into(memoryview(block)[:HEADER_BYTES], 0)
        header = io.BytesIO(bytes(block[:got]))
        version = np.lib.format.read_magic(header)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(header)
        offset = header.tell()
    except (ValueError, OSError, SyntaxError) as err:
        raise MediaError(f"{path}: not a lossless frame file ({err})") from err
    if dtype.names == ("frame",) and len(shape) == 1:  # frames in blocks
        field = dtype.fields["frame"][0]
        count, frame_shape, base, stride = shape[0], field.shape, field.base, dtype.itemsize
    elif dtype.names is None and len(shape) == 4:  # the earlier layout: frames back to back
        count, frame_shape, base, stride = shape[0], shape[1:], dtype, int(np.prod(shape[1:])) * dtype.itemsize
    else:
        raise MediaError(f"{path}: holds {dtype} {shape}, not uint8 RGB frames")
    if base != np.uint8 or len(frame_shape) != 3 or frame_shape[2] != 3 or not count:
        raise MediaError(f"{path}: holds {base} {(count, *frame_shape)}, not uint8 RGB frames")
    if tuple(frame_shape[:2]) != (height, width):
        raise MediaError(f"{path}: frames are {frame_shape[1]}x{frame_shape[0]}, expected {width}x{height}")
    if path.stat().st_size < offset + (count - 1) * stride + height * width * 3:
        raise MediaError(f"{path}: shorter than the {count} frames its header promises (truncated)")
    return LosslessFrames(path, count, width, height, offset, stride)
