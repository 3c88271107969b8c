"""Composition of rendered scene clips into one programme video, with transitions.

The programme is laid out by `timeline.plan` and cut into pieces (`timeline.pieces`):
each scene's solo part and each transition. Two ways to encode it:

* **in one pass** (``segment_cache=None``): every piece's frames go through one encoder;
* **incrementally** (a ``segment_cache`` folder): every piece is its own H.264 segment,
  keyed by what it is made from (clip content, frame range, transition, encoder
  settings) and kept in the cache; the programme is the segments joined by stream copy
  (`encode.concat_videos`). After one scene changes only its solo part and the
  transitions on either side are encoded again; the rest is copied. Each segment starts
  with an IDR frame and all share one encoder configuration, so the joins are clean.

Frames are streamed (decode, blend, encode one at a time), so memory stays flat however
long the programme is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from parallax_pipeline.engine.compose import timeline
from parallax_pipeline.engine.compose.transitions import Transition, blend, progress
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import file_digest
from parallax_pipeline.engine.video.codec import FrameReader, VideoSettings, VideoWriter, encode_frames, probe
from parallax_pipeline.engine.video.concat import concat_videos

SEGMENT_FORMAT = "1"
"""Bump when a segment's bytes for the same key would change (blend maths, encoder use)."""


@dataclass(frozen=True)
class CompositionReport:
    """What a composition wrote and what it could reuse."""

    frames: int
    """Frames in the programme."""
    pieces: int
    """Solo parts and transitions the programme is made of."""
    pieces_encoded: int
    """Pieces encoded by this call (the rest were copied from the segment cache)."""
    frames_encoded: int
    """Frames encoded by this call."""


class SegmentCache:
    """Encoded pieces on disk, named by the hash of what they are made from.

    It survives across runs, which is what makes re-composition cheap; identical pieces
    of different projects are shared. Files are written atomically by `VideoWriter`, so a
    file under its final name is complete. `prune` keeps the folder within a size.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.mp4"

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        if not path.is_file():
            return None
        os.utime(path)  # last use, for `prune`
        return path

    def prune(self, max_bytes: int) -> int:
        """Delete least recently used segments until the cache holds at most ``max_bytes``;
        return the bytes freed."""
        files = sorted(
            (entry.stat().st_mtime_ns, entry.stat().st_size, entry)
            for entry in self.folder.glob("*/*.mp4")
            if entry.is_file()
        )
        total = sum(size for _, size, _ in files)
        freed = 0
        for _, size, entry in files:
            if total - freed <= max_bytes:
                break
            entry.unlink(missing_ok=True)
            freed += size
        return freed


def compose(
    clips: Sequence[Path],
    transitions: Sequence[Transition],
    out_path: Path,
    settings: VideoSettings,
    *,
    names: Sequence[str] | None = None,
    segment_cache: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> CompositionReport:
    """Join ``clips`` with ``transitions`` (one per join: ``transitions[i]`` leads from
    clip ``i`` into clip ``i + 1``) into ``out_path``.

    The programme lasts ``Σ clip frames − Σ overlaps`` frames (see `timeline`). ``names``
    label scenes in errors. With ``segment_cache`` (a folder) pieces are kept and reused
    across calls (see the module docstring). ``on_progress(frames_done)`` is called after
    each piece. Raises MediaError for unreadable clips or clips of another size, and
    `timeline.TimelineError` for transitions the clips are too short for.
    """
    clips = [Path(clip) for clip in clips]
    if not clips:
        raise ValueError("compose needs at least one clip")
    counts = [_clip_frames(clip, settings) for clip in clips]
    overlaps = [transition.overlap_frames(settings.fps) for transition in transitions]
    placements = timeline.plan(counts, overlaps, names)
    pieces = timeline.pieces(placements)
    readers = [FrameReader(clip) for clip in clips]
    try:
        if segment_cache is None:
            return _compose_in_one_pass(pieces, readers, transitions, out_path, settings, on_progress)
        return _compose_from_segments(
            pieces, readers, transitions, out_path, settings, SegmentCache(segment_cache), on_progress
        )
    finally:
        for reader in readers:
            reader.close()


def _clip_frames(clip: Path, settings: VideoSettings) -> int:
    """Frames of a clip, failing before anything is encoded if it is unreadable or of another size."""
    info = probe(clip)
    if (info.width, info.height) != (settings.width, settings.height):
        raise MediaError(
            f"{clip}: clip is {info.width}x{info.height}, expected {settings.width}x{settings.height}"
        )
    if info.frames == 0:
        raise MediaError(f"{clip}: clip has no frames")
    return info.frames


def _piece_frames(
    piece: timeline.Piece, readers: Sequence[FrameReader], transitions: Sequence[Transition], settings: VideoSettings
) -> Iterator[np.ndarray]:
    """The programme frames of one piece, decoded (and blended) one at a time."""
    shape = (settings.height, settings.width, 3)
    outgoing = readers[piece.scene].frames(piece.clip_start, piece.clip_start + piece.frames)
    if not piece.transition:
        for frame in outgoing:
            yield _checked(frame, shape, readers[piece.scene])
        return
    transition = transitions[piece.scene]
    incoming = readers[piece.scene + 1].frames(0, piece.frames)
    for k, (a, b) in enumerate(zip(outgoing, incoming, strict=True)):
        a = _checked(a, shape, readers[piece.scene])
        b = _checked(b, shape, readers[piece.scene + 1])
        yield blend(transition, a, b, progress(k, piece.frames))


def _checked(frame: np.ndarray, shape: tuple[int, int, int], reader: FrameReader) -> np.ndarray:
    if frame.shape != shape:
        # Size changes mid-stream are legal in H.264; not in our programme.
        raise MediaError(f"{reader.path}: frame of size {frame.shape[1]}x{frame.shape[0]} mid-clip")
    return frame


def _compose_in_one_pass(pieces, readers, transitions, out_path, settings, on_progress) -> CompositionReport:
    with VideoWriter(Path(out_path), settings) as writer:
        for piece in pieces:
            for frame in _piece_frames(piece, readers, transitions, settings):
                writer.write(frame)
            if on_progress:
                on_progress(writer.frames_written)
    return CompositionReport(writer.frames_written, len(pieces), len(pieces), writer.frames_written)


def _compose_from_segments(pieces, readers, transitions, out_path, settings, cache, on_progress) -> CompositionReport:
    digests = [file_digest(reader.path) for reader in readers]
    segments, encoded, frames_encoded, done = [], 0, 0, 0
    for piece in pieces:
        key = _piece_key(piece, digests, transitions, settings)
        segment = cache.get(key)
        if segment is None:
            segment = cache.path(key)
            segment.parent.mkdir(parents=True, exist_ok=True)
            encode_frames(_piece_frames(piece, readers, transitions, settings), segment, settings)
            encoded += 1
            frames_encoded += piece.frames
        segments.append(segment)
        done += piece.frames
        if on_progress:
            on_progress(done)
    frames = concat_videos(segments, Path(out_path), settings.fps)
    return CompositionReport(frames, len(pieces), encoded, frames_encoded)


def _piece_key(piece: timeline.Piece, digests: Sequence[str], transitions: Sequence[Transition], settings) -> str:
    """Hash of everything a piece's encoded bytes depend on."""
    made_of: dict[str, object] = {
        "format": SEGMENT_FORMAT,
        "av": av.__version__,  # the FFmpeg/x264 build inside the wheel
        "settings": [settings.width, settings.height, settings.fps, settings.crf, settings.preset],
        "clip": digests[piece.scene],
        "from": piece.clip_start,
        "frames": piece.frames,
    }
    if piece.transition:
        transition = transitions[piece.scene]
        # Type and direction only: the duration is already in `frames`.
        made_of["into"] = digests[piece.scene + 1]
        made_of["transition"] = [transition.type, transition.direction]
    payload = json.dumps(made_of, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
