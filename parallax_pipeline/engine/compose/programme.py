"""Composition of a programme from its scenes' parts, with transitions: every frame encoded once.

The programme is laid out by `timeline.plan` and cut into pieces (`timeline.pieces`):
each scene's solo part and each transition. A scene arrives already split
(`video.parts.SceneParts`, made by `parallax.clip.render_scene`): the frames it shows
alone are an H.264 segment with the project's encoder settings, starting on an IDR
frame, and the frames its transitions blend are kept lossless. So:

* a solo piece is the scene's segment itself: never decoded, never encoded again;
* a transition piece is blended from the two scenes' lossless frames (never compressed)
  and encoded once, as its own segment, kept in a ``segment_cache`` folder under the hash
  of what it is made from (the two scenes, the transition type and direction, the
  encoder settings and build);
* the programme is the segments joined by stream copy (`concat.concat_videos`).

After a change only what it touches is encoded again: a changed scene re-renders its own
parts (its asset) and the transitions on either side are blended again here; a changed
transition type or direction encodes only that transition's frames. Frames are streamed
(blend, encode one at a time), so memory stays flat however long the programme is.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from parallax_pipeline.engine.compose import timeline
from parallax_pipeline.engine.compose.transitions import Transition, blend, progress
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import file_digest, matches_digest, remember_digest, write_atomic
from parallax_pipeline.engine.memory import reuse_freed_memory
from parallax_pipeline.engine.video.codec import VideoSettings, encode_frames, probe
from parallax_pipeline.engine.video.concat import concat_videos
from parallax_pipeline.engine.video.lossless import read_lossless
from parallax_pipeline.engine.video.parts import SceneParts

TRANSITION_WORKERS = 3
"""Transitions encoded at once. A transition is a short segment: alone, x264's threads
idle while its pipeline fills and drains and while the next frame is read and blended;
with others at the same time they fill those gaps (x264 works in its own threads, the
reads and OpenCV's blends release the GIL). Nine 1080p transitions of 24 frames on
2 cores: 7.4 to 7.5 s with two at a time, 6.7 with three, 6.9 with four."""

SEGMENT_FORMAT = "2"
"""Bump when a transition segment's bytes for the same key would change (blend maths, encoder use).
2: transitions blended from lossless frames."""


@dataclass(frozen=True)
class CompositionReport:
    """What a composition wrote and what it could reuse."""

    frames: int
    """Frames in the programme."""
    pieces: int
    """Solo parts and transitions the programme is made of."""
    pieces_encoded: int
    """Transitions encoded by this call (solo parts are the scenes' own segments, and the
    other transitions were copied from the segment cache)."""
    frames_encoded: int
    """Frames encoded by this call: only transition frames, never a solo part's."""


class SegmentCache:
    """Encoded transitions on disk, named by the hash of what they are made from.

    It survives across runs, which is what makes re-composition cheap; identical pieces
    of different projects are shared. Files are written atomically by `VideoWriter`, so a
    file under its final name is complete, and `seal` records its SHA-256 beside it: `get`
    hands out only segments whose bytes still match (a damaged one is dropped and encoded
    again). `prune` keeps the folder within a size.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.mp4"

    def _digest_path(self, path: Path) -> Path:
        return path.with_suffix(".sha256")

    def seal(self, path: Path) -> Path:
        """Record the finished segment's SHA-256, after which `get` hands it out."""
        write_atomic(self._digest_path(path), file_digest(path).encode())
        return path

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        digest = self._digest_path(path)
        try:
            expected = digest.read_text().strip()
            intact = matches_digest(path, expected)
        except OSError:
            intact = False
        if not intact:  # never made, not sealed (a crash) or damaged: made again
            path.unlink(missing_ok=True)
            digest.unlink(missing_ok=True)
            return None
        os.utime(path)  # last use, for `prune`
        remember_digest(path, expected)  # the new time is the bytes' own, just verified
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
            self._digest_path(entry).unlink(missing_ok=True)
            freed += size
        return freed


def compose(
    scenes: Sequence[SceneParts],
    transitions: Sequence[Transition],
    out_path: Path,
    settings: VideoSettings,
    *,
    names: Sequence[str] | None = None,
    segment_cache: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> CompositionReport:
    """Join ``scenes`` with ``transitions`` (one per join: ``transitions[i]`` leads from
    scene ``i`` into scene ``i + 1``) into ``out_path``.

    The programme lasts ``Σ scene frames − Σ overlaps`` frames (see `timeline`); each
    scene's parts must be split for the overlaps its transitions make. ``names`` label
    scenes in errors. Transition segments are kept in ``segment_cache`` (a folder) and
    reused across calls; without one they are made in a temporary folder beside
    ``out_path``. ``on_progress(frames_done)`` is called after each piece. Raises
    MediaError for parts that are unreadable, of another size or split for other
    transitions, and `timeline.TimelineError` for transitions the scenes are too short for.
    """
    scenes = list(scenes)
    if not scenes:
        raise ValueError("compose needs at least one scene")
    reuse_freed_memory()
    overlaps = [transition.overlap_frames(settings.fps) for transition in transitions]
    placements = timeline.plan([scene.frames for scene in scenes], overlaps, names)
    for place, scene in zip(placements, scenes):
        _check_parts(place, scene, settings)
    pieces = timeline.pieces(placements)
    out_path = Path(out_path)
    if segment_cache is not None:
        return _compose(pieces, scenes, transitions, out_path, settings, SegmentCache(segment_cache), on_progress)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".segments-") as folder:
        return _compose(pieces, scenes, transitions, out_path, settings, SegmentCache(Path(folder)), on_progress)


def _check_parts(place: timeline.Placement, scene: SceneParts, settings: VideoSettings) -> None:
    """Fail before anything is encoded if a scene's parts do not fit its place or the settings."""
    if (scene.overlap_in, scene.overlap_out) != (place.overlap_in, place.overlap_out):
        raise MediaError(
            f"scene {place.name!r}: its frames were split for transitions of {scene.overlap_in} frames in and "
            f"{scene.overlap_out} out, the timeline has {place.overlap_in} and {place.overlap_out}; render it again"
        )
    if scene.solo is not None:
        info = probe(scene.solo)
        if (info.width, info.height) != (settings.width, settings.height):
            raise MediaError(
                f"{scene.solo}: segment is {info.width}x{info.height}, expected {settings.width}x{settings.height}"
            )
        if info.frames != scene.solo_frames:
            raise MediaError(f"{scene.solo}: segment has {info.frames} frames, scene {place.name!r} shows {scene.solo_frames} alone")
    for path, count in ((scene.head, scene.overlap_in), (scene.tail, scene.overlap_out)):
        if path is not None and len(read_lossless(path, settings.width, settings.height)) != count:
            raise MediaError(f"{path}: holds other than the {count} frames scene {place.name!r} shares with a neighbour")


def _compose(pieces, scenes, transitions, out_path, settings, cache, on_progress) -> CompositionReport:
    segments: list[Path | Future] = []
    encoded = frames_encoded = 0
    with ThreadPoolExecutor(TRANSITION_WORKERS, thread_name_prefix="transition") as pool:
        for piece in pieces:
            if not piece.transition:
                segments.append(scenes[piece.scene].solo)
                continue
            key = _transition_key(piece, scenes, transitions, settings)
            segment = cache.get(key)
            if segment is None:
                segment = cache.path(key)
                segment.parent.mkdir(parents=True, exist_ok=True)
                frames = _transition_frames(piece, scenes, transitions, settings)
                segment = pool.submit(_encode, frames, segment, settings, cache)
                encoded += 1
                frames_encoded += piece.frames
            segments.append(segment)
        done = 0
        for index, (piece, segment) in enumerate(zip(pieces, segments)):
            if isinstance(segment, Future):
                segments[index] = segment.result()
            done += piece.frames
            if on_progress:
                on_progress(done)
    frames = concat_videos(segments, out_path, settings.fps)
    return CompositionReport(frames, len(pieces), encoded, frames_encoded)


def _encode(frames: Iterator[np.ndarray], path: Path, settings: VideoSettings, cache: SegmentCache) -> Path:
    encode_frames(frames, path, settings)
    return cache.seal(path)


def _transition_frames(
    piece: timeline.Piece, scenes: Sequence[SceneParts], transitions: Sequence[Transition], settings: VideoSettings
) -> Iterator[np.ndarray]:
    """The frames of one transition, blended one at a time from the two scenes' lossless frames."""
    outgoing = read_lossless(scenes[piece.scene].tail, settings.width, settings.height)
    incoming = read_lossless(scenes[piece.scene + 1].head, settings.width, settings.height)
    transition = transitions[piece.scene]
    for k in range(piece.frames):
        yield blend(transition, outgoing[k], incoming[k], progress(k, piece.frames))


def _transition_key(
    piece: timeline.Piece, scenes: Sequence[SceneParts], transitions: Sequence[Transition], settings: VideoSettings
) -> str:
    """Hash of everything a transition segment's bytes depend on."""
    outgoing, incoming = scenes[piece.scene], scenes[piece.scene + 1]
    transition = transitions[piece.scene]
    made_of: dict[str, object] = {
        "format": SEGMENT_FORMAT,
        "av": av.__version__,  # the FFmpeg/x264 build inside the wheel
        "settings": [settings.width, settings.height, settings.fps, settings.crf, settings.preset],
        # what the frames are made from: the scenes' recipes, or else the frames themselves
        "from": outgoing.identity or file_digest(outgoing.tail),
        "into": incoming.identity or file_digest(incoming.head),
        "frames": piece.frames,
        # Type and direction only: the duration is already in `frames`.
        "transition": [transition.type, transition.direction],
    }
    payload = json.dumps(made_of, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
