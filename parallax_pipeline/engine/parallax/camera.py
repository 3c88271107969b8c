"""Camera motion: typed parameters of a move and the per-frame camera path they define.

Units and conventions (shared with the parallax renderer and the quality bench)
-------------------------------------------------------------------------------
A reference-image point ``p`` (pixels) of disparity ``d`` (1 = nearest surface,
0 = infinitely far) appears in an output frame of width ``W`` and centre ``c`` at

    p' = c + scale · [ (p − c) + W·d·(dx, dy) ] / (1 − zoom·d)

which is exactly what a pinhole camera sees when it moves by a vector proportional to
(−dx, −dy, zoom) measured in units of the nearest surface's distance (disparity is
inverse depth, normalised so the nearest surface has d = 1):

* ``dx``, ``dy``: view offset, a fraction of the frame **width** per unit disparity:
  a surface at disparity ``d`` moves ``dx·W·d`` pixels right and ``dy·W·d`` pixels
  down (both signs allowed). Infinitely far content (d = 0) does not move.
  This is exactly the offset of the quality bench's ``render_view``.
* ``zoom``: dolly. The camera moves forward by ``zoom`` times the distance of the
  nearest surface; a surface at disparity ``d`` is magnified about the frame centre by
  ``1 / (1 − zoom·d)``, so near things grow faster than far ones, and far content
  (d = 0) keeps its size. Must stay below 1 (the camera cannot pass the nearest
  surface).
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
Easing = Literal["linear", "ease_in_out", "ease_in", "ease_out"]


class Motion(BaseModel):
    """How the camera moves through one scene."""

    model_config = ConfigDict(extra="forbid")

    preset: MotionPreset = "dolly_in"
    """Named camera move (see `camera_path` for each one's definition)."""
    amount: float = Field(default=0.1, ge=0.0, le=0.5)
    """Camera movement: how far the camera travels, measured by what it does to the
    nearest surface (disparity 1) relative to infinitely far content. Lateral moves
    (pans, circle, swing) displace it by at most ``amount`` frame widths end to end
    (pans: from +amount/2 to −amount/2; circle and swing: a radius of amount/2); dolly
    moves magnify it by up to ``1 + amount`` while far content keeps its size. A surface
    of disparity ``d`` moves ``d`` times as much."""
    range: float = Field(default=0.17, ge=0.0, le=1.0)
    """Movement range: how far the whole frame may be magnified (at most ``1 + range``,
    constant over the clip) so that content the move brings in at the borders is real
    picture rather than inpainted. The renderer uses only what the move needs (pans of
    ``amount`` 0.1 need about 1.11); beyond ``range`` the borders are inpainted."""
    easing: Easing = "ease_in_out"
    """Speed profile along the path: ``ease_in_out`` (smoothstep: starts and stops
    gently), ``ease_in`` (starts gently), ``ease_out`` (stops gently) or ``linear``."""
    loop: bool = False
    """End where the move began, for seamless loops: the frame after the last one would
    be the first again (one-way moves go out and come back)."""


@dataclass(frozen=True)
class CameraPose:
    """The camera of one frame, relative to the reference view (see the module docstring).

    ``dx``, ``dy``: view offset in frame widths per unit disparity (content of disparity
    ``d`` moves ``dx·W·d`` px right, ``dy·W·d`` px down). ``zoom``: dolly, content of
    disparity ``d`` is magnified by ``1 / (1 − zoom·d)`` about the centre (zoom < 1).
    ``scale``: lens magnification of the whole frame about its centre. The identity pose
    is the default.
    """

    dx: float = 0.0
    dy: float = 0.0
    zoom: float = 0.0
    scale: float = 1.0

    def is_identity(self) -> bool:
        return self.dx == 0.0 and self.dy == 0.0 and self.zoom == 0.0 and self.scale == 1.0

    def magnification(self, d: float) -> float:
        """How much a surface of disparity ``d`` is magnified in this frame."""
        return self.scale / (1.0 - self.zoom * d)


PERIODIC_PRESETS = frozenset({"circle", "swing"})


def smoothstep(u: float) -> float:
    """Ease-in-out: 3u² − 2u³ on [0, 1] (zero speed at both ends)."""
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


def ease(u: float, easing: str) -> float:
    """Progress ``u`` in [0, 1] through an easing curve (0 -> 0, 1 -> 1)."""
    u = min(1.0, max(0.0, u))
    if easing == "ease_in_out":
        return smoothstep(u)
    if easing == "ease_in":  # the first half of a smoothstep, stretched: zero speed at 0
        return 2.0 * smoothstep(0.5 * u)
    if easing == "ease_out":  # the second half: zero speed at 1
        return 2.0 * smoothstep(0.5 + 0.5 * u) - 1.0
    return u


def dolly(magnification: float) -> float:
    """The zoom that magnifies the nearest surface (d = 1) by ``magnification``."""
    return 1.0 - 1.0 / magnification


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
        phase = 2.0 * math.pi * ease(t, motion.easing)
        if preset == "circle":
            return CameraPose(dx=0.5 * a * math.cos(phase), dy=0.5 * a * math.sin(phase))
        return CameraPose(dx=0.5 * a * math.sin(phase))
    # one-way presets: progress 0 -> 1, or 0 -> 1 -> 0 when looping
    u = 1.0 - abs(2.0 * t - 1.0) if motion.loop else t
    e = ease(u, motion.easing)
    half = 0.5 * a
    if preset == "static":
        return CameraPose()
    if preset == "dolly_in":
        return CameraPose(zoom=dolly(1.0 + a * e))
    if preset == "dolly_out":
        return CameraPose(zoom=dolly(1.0 + a * (1.0 - e)))
    if preset == "pan_right":  # camera travels right: content slides left
        return CameraPose(dx=half - a * e)
    if preset == "pan_left":  # camera travels left: content slides right
        return CameraPose(dx=-half + a * e)
    if preset == "pan_down":  # camera travels down: content slides up
        return CameraPose(dy=half - a * e)
    if preset == "pan_up":  # camera travels up: content slides down
        return CameraPose(dy=-half + a * e)
    if preset == "dolly_zoom":
        zoom = dolly(1.0 + a * e)
        return CameraPose(zoom=zoom, scale=1.0 - zoom)
    raise ValueError(f"unknown motion preset {preset!r}")


def camera_path(motion: Motion, frames: int) -> list[CameraPose]:
    """One `CameraPose` per frame for ``motion``; ``a`` is ``motion.amount``.

    Progress: the raw time of frame ``i`` is ``t = i/(frames−1)`` (``i/frames`` when
    ``motion.loop``, so the frame after the last would be the first again). One-way
    presets use progress ``u = t``, or ``u = 1 − |2t − 1|`` (0 → 1 → 0) when looping;
    periodic presets (circle, swing) run one full period over ``t``. ``easing`` maps
    ``u`` (the phase for circle/swing) through its curve; ``e`` below is the eased
    progress, and ``dolly(m) = 1 − 1/m`` is the zoom that magnifies the nearest
    surface by ``m``.

    Presets (first pose → last pose, without loop):

    * ``static``: the identity pose throughout.
    * ``dolly_in``: ``zoom = dolly(1 + a·e)``: the camera moves forward until the
      nearest surface is ``1 + a`` times larger; far content keeps its size.
    * ``dolly_out``: ``zoom = dolly(1 + a·(1 − e))``: the same move backwards.
    * ``pan_right``: ``dx = a/2 − a·e`` (+a/2 → −a/2): the camera travels right, so
      content slides left; the move is centred on the reference view.
    * ``pan_left``: ``dx = −a/2 + a·e`` (−a/2 → +a/2).
    * ``pan_down``: ``dy = a/2 − a·e`` (+a/2 → −a/2): content slides up.
    * ``pan_up``: ``dy = −a/2 + a·e`` (−a/2 → +a/2).
    * ``circle`` (orbit): ``dx = a/2·cos 2πe``, ``dy = a/2·sin 2πe``: one turn
      starting and ending at ``(a/2, 0)``.
    * ``swing``: ``dx = a/2·sin 2πe``: right, back through the centre, left and back;
      starts and ends at 0.
    * ``dolly_zoom`` (vertigo): ``zoom = dolly(1 + a·e)`` with ``scale = 1 − zoom``: the
      camera moves forward while the lens widens, so the nearest surface (d = 1) keeps
      its size while farther content shrinks, down to ``1/(1 + a)`` for d = 0.

    With ``loop`` every preset's last pose is one step before its first, and the
    one-way presets turn back at mid-clip.
    """
    return [pose_at(motion, t) for t in path_times(frames, motion.loop)]
