"""Camera motion: typed parameters of a move and the per-frame camera path they define.

Units and conventions (shared with the parallax renderer and the quality bench)
-------------------------------------------------------------------------------
A reference-image point ``p`` (pixels) of disparity ``d`` (1 = nearest surface,
0 = infinitely far) appears in an output frame of width ``W`` and centre ``c`` at

    p' = c + scale · [ (1 + zoom·d) · (p − c) + W·d·(dx, dy) ]

* ``dx``, ``dy``: view offset, a fraction of the frame **width** per unit disparity:
  a surface at disparity ``d`` moves ``dx·W·d`` pixels right and ``dy·W·d`` pixels
  down (both signs allowed). Infinitely far content (d = 0) does not move.
  This is exactly the offset of the quality bench's ``render_view``.
* ``zoom``: dolly term. A surface at disparity ``d`` is magnified about the frame
  centre by ``1 + zoom·d``, so near things grow faster than far ones (the
  first-order image of a camera moving forward by ``zoom`` times the distance of the
  nearest surface). Far content (d = 0) keeps its size.
* ``scale``: focal-length (lens zoom) factor applied to the whole frame about its
  centre, offsets included; 1 leaves the frame as it is.

The path is a pure function of `Motion` and the frame count; it knows nothing of the
image or its size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MotionPreset = Literal[
    "dolly_in",
    "dolly_out",
    "pan_left",
    "pan_right",
    "pan_up",
    "pan_down",
    "circle",
    "swing",
    "dolly_zoom",
    "static",
]


class Motion(BaseModel):
    """How the camera moves through one scene."""

    model_config = ConfigDict(extra="forbid")

    preset: MotionPreset = "dolly_in"
    """Named camera move."""
    amount: float = Field(default=0.1, ge=0.0, le=0.5)
    """Camera movement: the largest view offset of the move, as a fraction of the frame
    width applied to the nearest surface (disparity 1)."""
    easing: Literal["linear", "ease_in_out"] = "ease_in_out"
    """Speed profile along the path."""
    loop: bool = False
    """End where the move began, for seamless loops."""


@dataclass(frozen=True)
class CameraPose:
    """The camera of one frame, relative to the reference view (see the module docstring).

    ``dx``, ``dy``: view offset in frame widths per unit disparity (content of disparity
    ``d`` moves ``dx·W·d`` px right, ``dy·W·d`` px down). ``zoom``: dolly term, content of
    disparity ``d`` is magnified by ``1 + zoom·d`` about the centre. ``scale``: lens
    magnification of the whole frame about its centre. The identity pose is the default.
    """

    dx: float = 0.0
    dy: float = 0.0
    zoom: float = 0.0
    scale: float = 1.0

    def is_identity(self) -> bool:
        return self.dx == 0.0 and self.dy == 0.0 and self.zoom == 0.0 and self.scale == 1.0


PERIODIC_PRESETS = frozenset({"circle", "swing"})


def smoothstep(u: float) -> float:
    """Ease-in-out: 3u² − 2u³ on [0, 1] (zero speed at both ends)."""
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


def _ease(u: float, easing: str) -> float:
    return smoothstep(u) if easing == "ease_in_out" else min(1.0, max(0.0, u))


def path_times(frames: int, loop: bool) -> list[float]:
    """Raw time of each frame in [0, 1].

    Without ``loop``: ``i / (frames − 1)``, so the first frame is t = 0 and the last
    t = 1. With ``loop``: ``i / frames``, so frame ``frames`` (the one after the last)
    would be t = 1, i.e. the start again. One frame: t = 0.
    """
    if frames < 1:
        raise ValueError(f"a camera path needs at least one frame, got {frames}")
    if loop:
        return [i / frames for i in range(frames)]
    if frames == 1:
        return [0.0]
    return [i / (frames - 1) for i in range(frames)]


def pose_at(motion: Motion, t: float) -> CameraPose:
    """The pose at raw time ``t`` in [0, 1] (see `camera_path` for the presets)."""
    a = float(motion.amount)
    preset = motion.preset
    if preset in PERIODIC_PRESETS:
        # one full period over t in [0, 1]; easing warps the phase
        phase = 2.0 * math.pi * _ease(t, motion.easing)
        if preset == "circle":
            return CameraPose(dx=0.5 * a * math.cos(phase), dy=0.5 * a * math.sin(phase))
        return CameraPose(dx=0.5 * a * math.sin(phase))
    # one-way presets: progress 0 -> 1, or 0 -> 1 -> 0 when looping
    u = 1.0 - abs(2.0 * t - 1.0) if motion.loop else t
    e = _ease(u, motion.easing)
    half = 0.5 * a
    if preset == "static":
        return CameraPose()
    if preset == "dolly_in":
        return CameraPose(zoom=a * e)
    if preset == "dolly_out":
        return CameraPose(zoom=a * (1.0 - e))
    if preset == "pan_right":  # camera travels right: content slides left
        return CameraPose(dx=half - a * e)
    if preset == "pan_left":  # camera travels left: content slides right
        return CameraPose(dx=-half + a * e)
    if preset == "pan_down":  # camera travels down: content slides up
        return CameraPose(dy=half - a * e)
    if preset == "pan_up":  # camera travels up: content slides down
        return CameraPose(dy=-half + a * e)
    if preset == "dolly_zoom":
        zoom = a * e
        return CameraPose(zoom=zoom, scale=1.0 / (1.0 + zoom))
    raise ValueError(f"unknown motion preset {preset!r}")


def camera_path(motion: Motion, frames: int) -> list[CameraPose]:
    """One `CameraPose` per frame for ``motion``; ``a`` is ``motion.amount``.

    Progress: the raw time of frame ``i`` is ``t = i/(frames−1)`` (``i/frames`` when
    ``motion.loop``, so the frame after the last would be the first again). One-way
    presets use progress ``u = t``, or ``u = 1 − |2t − 1|`` (0 → 1 → 0) when looping;
    periodic presets (circle, swing) run one full period over ``t``. ``easing`` maps
    ``u`` (the phase for circle/swing) through smoothstep 3u² − 2u³ ("ease_in_out") or
    leaves it ("linear"); ``e`` below is the eased progress.

    Presets (first pose → last pose, without loop):

    * ``static``: the identity pose throughout.
    * ``dolly_in``: ``zoom = a·e`` (0 → a): the camera moves forward.
    * ``dolly_out``: ``zoom = a·(1 − e)`` (a → 0): the camera moves back.
    * ``pan_right``: ``dx = a/2 − a·e`` (+a/2 → −a/2): the camera travels right, so
      content slides left; the move is centred on the reference view.
    * ``pan_left``: ``dx = −a/2 + a·e`` (−a/2 → +a/2).
    * ``pan_down``: ``dy = a/2 − a·e`` (+a/2 → −a/2): content slides up.
    * ``pan_up``: ``dy = −a/2 + a·e`` (−a/2 → +a/2).
    * ``circle``: ``dx = a/2·cos 2πe``, ``dy = a/2·sin 2πe``: one turn starting and
      ending at ``(a/2, 0)``.
    * ``swing``: ``dx = a/2·sin 2πe``: right, back through the centre, left and back;
      starts and ends at 0.
    * ``dolly_zoom`` (vertigo): ``zoom = a·e`` with ``scale = 1/(1 + zoom)``: the
      nearest surface (d = 1) keeps its size while farther content shrinks (0 → a).

    With ``loop`` every preset's last pose is one step before its first, and the
    one-way presets turn back at mid-clip.
    """
    return [pose_at(motion, t) for t in path_times(frames, motion.loop)]
