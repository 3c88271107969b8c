"""Composition of rendered scene clips into one programme video.

Walking-skeleton stage: hard cuts only. Frames are decoded and re-encoded one at a time
(rather than stream-copied) so later transitions can blend frames across a join with
the same loop, and so memory stays flat however long the programme is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av

from .encode import VideoSettings, VideoWriter, check_input_file, read_frames
from .errors import MediaError


def _check_clip(clip: Path, settings: VideoSettings) -> None:
    """Fail before encoding anything if a clip is unreadable or of another size."""
    clip = check_input_file(clip)
    try:
        with av.open(str(clip)) as container:
            if not container.streams.video:
                raise MediaError(f"{clip}: no video stream")
            ctx = container.streams.video[0].codec_context
            size = (ctx.width, ctx.height)
    except av.FFmpegError as err:
        raise MediaError(f"{clip}: cannot read video ({err})") from err
    if size != (settings.width, settings.height):
        raise MediaError(
            f"{clip}: clip is {size[0]}x{size[1]}, expected {settings.width}x{settings.height}"
        )


def concat_clips(
    clips: Sequence[Path],
    out_path: Path,
    settings: VideoSettings,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Join clips with hard cuts into ``out_path``; return the frames written (the sum
    of the clips' frames). ``on_progress(frames_so_far)`` is called after each clip."""
    if not clips:
        raise ValueError("concat_clips needs at least one clip")
    for clip in clips:
        _check_clip(Path(clip), settings)
    with VideoWriter(Path(out_path), settings) as writer:
        for clip in clips:
            for frame in read_frames(Path(clip)):
                if frame.shape[:2] != (settings.height, settings.width):
                    # Size changes mid-stream are legal in H.264; not in our programme.
                    raise MediaError(f"{clip}: frame of size {frame.shape[1]}x{frame.shape[0]} mid-clip")
                writer.write(frame)
            if on_progress:
                on_progress(writer.frames_written)
    return writer.frames_written
