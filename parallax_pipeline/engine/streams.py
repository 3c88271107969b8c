"""Opening media files with PyAV: the one place audio and video decoding share.

`video` and `audio` never import each other; both open their files here, so FFmpeg's
errors read the same whichever medium failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av

from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import check_input_file

MP4_OPTIONS = {"movflags": "+faststart"}
"""Muxer options of every MP4 written: faststart moves the index (moov) to the front so
players and browsers can start playback before the whole file has arrived."""


@contextmanager
def open_stream(path: Path, kind: str = "video", action: str = "read") -> Iterator[tuple]:
    """The open container of a media file and its first ``kind`` ("video" or "audio")
    stream, the file checked first (`check_input_file`). FFmpeg's errors inside the block
    become MediaError "<path>: cannot <action> <kind> (<reason>)"."""
    path = check_input_file(path)
    try:
        with av.open(str(path)) as container:
            streams = getattr(container.streams, kind)
            if not streams:
                raise MediaError(f"{path}: no {kind} stream")
            yield container, streams[0]
    except av.FFmpegError as err:
        raise MediaError(f"{path}: cannot {action} {kind} ({err})") from err
