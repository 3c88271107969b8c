"""Timeline arithmetic: where each scene sits in the programme, in whole frames.

Scene ``i`` lasts ``frames[i]`` frames and its transition into scene ``i + 1`` overlaps
the two scenes by ``overlaps[i]`` frames (0 for a cut). Then

* scene ``i`` starts at ``start[i] = Σ_{j<i} (frames[j] − overlaps[j])``: its first frame
  in the finished video, the first frame of its incoming transition when it has one;
* the programme lasts ``Σ frames − Σ overlaps`` frames;
* a scene's frames ``[overlap_in, frames − overlap_out)`` are shown alone (its *solo*
  part); the others are blended with a neighbour.

A transition may not be longer than either of its scenes, and a scene's incoming and
outgoing transitions may not overlap each other (three scenes on screen at once):
both are `TimelineError`s naming the scene.

The programme is cut into *pieces*, in order: scene 0's solo part, transition 0,
scene 1's solo part, transition 1, … Each piece depends on one clip (solo) or two
(transition), which is what lets a composition re-encode only the pieces a change touches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def frames_for(duration: float, fps: int) -> int:
    """Frames a scene of `duration` seconds occupies: rounded to the nearest frame, at least one."""
    return max(1, round(duration * fps))


class TimelineError(ValueError):
    """Scenes and transitions that cannot be laid out; the message names the scene."""


@dataclass(frozen=True)
class Placement:
    """One scene on the timeline (all counts in frames)."""

    index: int
    name: str
    start: int
    """First frame of the scene in the programme (its incoming transition's first frame)."""
    frames: int
    overlap_in: int
    """Frames shared with the previous scene (0 for the first scene or after a cut)."""
    overlap_out: int
    """Frames shared with the next scene (0 for the last scene or before a cut)."""

    @property
    def end(self) -> int:
        """One past the scene's last frame in the programme."""
        return self.start + self.frames

    @property
    def solo_frames(self) -> int:
        return self.frames - self.overlap_in - self.overlap_out


@dataclass(frozen=True)
class Piece:
    """A run of programme frames made from one clip (solo) or two (a transition).

    A solo piece shows frames ``[clip_start, clip_start + frames)`` of scene ``scene``. A
    transition piece blends that range of scene ``scene`` (its last frames) with frames
    ``[0, frames)`` of scene ``scene + 1``.
    """

    start: int
    frames: int
    scene: int
    clip_start: int
    transition: bool


def plan(frames: Sequence[int], overlaps: Sequence[int], names: Sequence[str] | None = None) -> tuple[Placement, ...]:
    """Place scenes of ``frames`` frames joined by ``overlaps`` (one per join, ``len(frames) − 1``).

    ``names`` label the scenes in error messages (default ``scene 1``, ``scene 2``, …).
    """
    count = len(frames)
    if count == 0:
        raise TimelineError("a timeline needs at least one scene")
    names = list(names) if names is not None else [f"scene {i + 1}" for i in range(count)]
    if len(names) != count:
        raise ValueError(f"{len(names)} names for {count} scenes")
    if len(overlaps) != count - 1:
        raise ValueError(f"{count} scenes need {count - 1} transitions, got {len(overlaps)}")
    for i, n in enumerate(frames):
        if n < 1:
            raise TimelineError(f"scene {names[i]!r} has {n} frames; a scene needs at least one")
    for i, overlap in enumerate(overlaps):
        if overlap < 0:
            raise TimelineError(f"scene {names[i]!r}: transition of {overlap} frames; it cannot be negative")
        for side in (i, i + 1):
            if overlap > frames[side]:
                raise TimelineError(
                    f"scene {names[i]!r}: its transition into {names[i + 1]!r} lasts {overlap} frames, "
                    f"longer than scene {names[side]!r} ({frames[side]} frames); shorten the transition "
                    "or lengthen the scene"
                )
    placements, start = [], 0
    for i, n in enumerate(frames):
        overlap_in = overlaps[i - 1] if i > 0 else 0
        overlap_out = overlaps[i] if i < count - 1 else 0
        if overlap_in + overlap_out > n:
            raise TimelineError(
                f"scene {names[i]!r} lasts {n} frames, fewer than its transitions in ({overlap_in}) and "
                f"out ({overlap_out}) together; they would overlap each other. Shorten them or lengthen the scene"
            )
        placements.append(Placement(i, names[i], start, n, overlap_in, overlap_out))
        start += n - overlap_out
    return tuple(placements)


def total_frames(placements: Sequence[Placement]) -> int:
    """Length of the programme: Σ frames − Σ overlaps."""
    return placements[-1].end if placements else 0


def poster_frame(placements: Sequence[Placement]) -> int:
    """A programme frame that shows one scene alone, for a poster: the middle of the
    longest solo part, the middle scene's when several are as long (never a frame half
    one scene and half the next, unless every frame belongs to a transition)."""
    if not placements:
        raise TimelineError("a timeline needs at least one scene")
    middle = (len(placements) - 1) / 2
    place = max(placements, key=lambda p: (p.solo_frames, -abs(p.index - middle)))
    if place.solo_frames == 0:
        return total_frames(placements) // 2
    return place.start + place.overlap_in + place.solo_frames // 2


def pieces(placements: Sequence[Placement]) -> tuple[Piece, ...]:
    """The programme as solo parts and transitions, in order; empty solo parts are left out."""
    out = []
    for place in placements:
        if place.solo_frames:
            out.append(
                Piece(
                    start=place.start + place.overlap_in,
                    frames=place.solo_frames,
                    scene=place.index,
                    clip_start=place.overlap_in,
                    transition=False,
                )
            )
        if place.overlap_out:
            out.append(
                Piece(
                    start=place.end - place.overlap_out,
                    frames=place.overlap_out,
                    scene=place.index,
                    clip_start=place.frames - place.overlap_out,
                    transition=True,
                )
            )
    return tuple(out)
