"""Transitions between two scenes: their typed parameters and the frames they make.

Conventions
-----------
A transition of ``n`` frames overlaps the last ``n`` frames of the outgoing scene A with
the first ``n`` frames of the incoming scene B. Frame ``k`` (0 … n−1) of the overlap has
progress ``P = (k + 1) / (n + 1)``: P runs strictly between 0 (all A) and 1 (all B), so
the frame before the overlap is the last pure A frame and the frame after it the first
pure B frame, and an odd overlap has a middle frame at exactly P = ½. A cut is an
overlap of zero frames.

With ``W`` × ``H`` the frame size, ``L`` the side a direction runs along (W for left and
right, H for up and down) and ``e = round(L·P)`` the lines of B on screen:

* ``dissolve``: ``A·(1 − P) + B·P`` (a cross-fade), rounded to the nearest integer.
* ``fade`` (through black): ``A·max(0, 1 − 2P) + B·max(0, 2P − 1)``: A fades to black
  over the first half, B comes up from black over the second.
* ``wipe <dir>``: a hard edge moving in ``dir``, B behind it. ``left``: B holds the last
  ``e`` columns (the edge sits at column ``W − e``); ``right``: the first ``e`` columns;
  ``up``: the last ``e`` rows; ``down``: the first ``e`` rows.
* ``slide <dir>``: B slides in moving in ``dir`` over a still A; B's leading ``e`` lines
  are on screen where the wipe would show B.
* ``push <dir>``: as slide, and B pushes A out ahead of it (A moves ``e`` lines in ``dir``).
* ``circle``: B inside a growing circle about the centre with a soft (smoothstep) edge of
  width ``s`` (1.5 % of the diagonal, at least 2 px). The circle's half-blend radius is
  ``P·(R + s) − s/2`` with ``R`` the half diagonal, so it starts unseen and ends covering
  the corners.
* ``radial``: a clock wipe: B where the angle from 12 o'clock, clockwise, is below
  ``P`` turns.

Direction names where the motion goes: ``wipe left`` moves its edge from right to left.
"""

from __future__ import annotations

import functools
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

TransitionType = Literal["cut", "fade", "dissolve", "slide", "push", "wipe", "circle", "radial"]
Direction = Literal["left", "right", "up", "down"]
DIRECTIONAL = ("slide", "push", "wipe")
DEFAULT_SECONDS = 0.5
"""Duration of a transition whose duration is not given (a cut has none)."""


class Transition(BaseModel):
    """How a scene gives way to the next one (written on the outgoing scene).

    In project.yaml either a mapping ``{type: dissolve, duration: 0.8}`` or just the type
    name (``transition: fade``), which takes the default duration and direction.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: TransitionType = "cut"
    """cut (no overlap), fade (through black), dissolve (cross-fade), slide, push,
    wipe (these three take a direction), circle (shaped wipe from the centre), radial (clock wipe)."""
    duration: float = Field(default=0.0, ge=0.0, le=30.0)
    """Seconds the two scenes overlap; 0 for a cut, 0.5 when a transition leaves it out."""
    direction: Direction | None = None
    """Where a slide, push or wipe moves: left (default), right, up or down."""

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, value):
        # Defaults depend on the type (a cut has no duration, a wipe has a direction), so
        # they are filled in here, before field validation, rather than as field defaults.
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict):
            return value  # a Transition instance, or junk pydantic will reject with its own message
        value = dict(value)
        kind = value.get("type", "cut")
        if kind == "cut":
            if value.get("duration") not in (None, 0, 0.0):
                raise ValueError("a cut has no duration; choose fade, dissolve, … to overlap the scenes")
            value["duration"] = 0.0
        elif value.get("duration") is None:
            value["duration"] = DEFAULT_SECONDS
        if kind in DIRECTIONAL:
            value.setdefault("direction", "left")
            if value["direction"] is None:
                value["direction"] = "left"
        elif value.get("direction") is not None:
            raise ValueError(f"a {kind} has no direction (only {', '.join(DIRECTIONAL)} do)")
        return value

    @model_validator(mode="after")
    def _overlapping_types_last(self):
        if self.type != "cut" and self.duration <= 0:
            raise ValueError(f"a {self.type} needs a duration above 0 seconds (use type: cut for none)")
        return self

    def overlap_frames(self, fps: int) -> int:
        """Frames the two scenes share at ``fps``: 0 for a cut, else the duration rounded
        to the nearest frame and at least one."""
        if self.type == "cut":
            return 0
        return max(1, round(self.duration * fps))

    def label(self) -> str:
        """Short human name: ``cut``, ``dissolve 0.8s``, ``wipe up 0.5s``."""
        if self.type == "cut":
            return "cut"
        direction = f" {self.direction}" if self.direction else ""
        return f"{self.type}{direction} {self.duration:g}s"


def every_variant() -> list[Transition]:
    """One transition of each type and direction, at default durations (cut first)."""
    return [
        Transition(type=kind, direction=direction) if kind in DIRECTIONAL else Transition(type=kind)
        for kind in TransitionType.__args__
        for direction in (Direction.__args__ if kind in DIRECTIONAL else (None,))
    ]


def progress(k: int, frames: int) -> float:
    """Progress of frame ``k`` of an ``frames``-frame overlap: ``(k + 1) / (frames + 1)``."""
    if not 0 <= k < frames:
        raise ValueError(f"frame {k} is outside a {frames}-frame transition")
    return (k + 1) / (frames + 1)


def blend(transition: Transition, a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    """The frame of ``transition`` at progress ``p`` (0 = all ``a``, 1 = all ``b``).

    ``a`` and ``b`` are uint8 H×W×3 frames of one size; the result is a new array.
    """
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(
            f"transition frames must be uint8 of one shape, got {a.shape} {a.dtype} and {b.shape} {b.dtype}"
        )
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"transition progress must lie within 0..1, got {p}")
    kind = transition.type
    if kind == "cut":
        return (b if p >= 0.5 else a).copy()
    if kind == "dissolve":
        return cv2.addWeighted(a, 1.0 - p, b, p, 0.0)
    if kind == "fade":
        return cv2.addWeighted(a, max(0.0, 1.0 - 2.0 * p), b, max(0.0, 2.0 * p - 1.0), 0.0)
    if kind in DIRECTIONAL:
        return _directional(kind, transition.direction or "left", a, b, p)
    if kind == "circle":
        alpha = _circle_alpha(a.shape[0], a.shape[1], p)
        return cv2.blendLinear(a, b, 1.0 - alpha, alpha)
    if kind == "radial":
        turns = _turns(a.shape[0], a.shape[1])
        return np.where((turns < p)[..., None], b, a)
    raise ValueError(f"unknown transition type {kind!r}")


def _directional(kind: str, direction: str, a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    # Work on columns for left/right and on rows for up/down by viewing the frames
    # transposed, so each movement is written once. ``forward`` motion (left, up) brings
    # B in at the far end; backward motion (right, down) at the near end.
    vertical = direction in ("up", "down")
    forward = direction in ("left", "up")
    if vertical:
        a, b = a.transpose(1, 0, 2), b.transpose(1, 0, 2)
    out = a.copy()
    length = a.shape[1]
    e = int(round(length * p))
    if e:
        if kind == "wipe":
            span = slice(length - e, length) if forward else slice(0, e)
            out[:, span] = b[:, span]
        elif forward:  # B's leading (first) e lines enter at the far end
            out[:, length - e :] = b[:, :e]
            if kind == "push":
                out[:, : length - e] = a[:, e:]
        else:  # B's leading (last) e lines enter at the near end
            out[:, :e] = b[:, length - e :]
            if kind == "push":
                out[:, e:] = a[:, : length - e]
    return out.transpose(1, 0, 2) if vertical else out


@functools.lru_cache(maxsize=4)
def _radius(height: int, width: int) -> np.ndarray:
    """Distance of each pixel centre from the frame centre (float32), cached per size."""
    y = np.arange(height, dtype=np.float32)[:, None] + 0.5 - height / 2
    x = np.arange(width, dtype=np.float32)[None, :] + 0.5 - width / 2
    return np.sqrt(x * x + y * y)


def circle_edge(height: int, width: int) -> tuple[float, float]:
    """(half diagonal R, soft edge width s) of the circle transition at this size."""
    diagonal = float(np.hypot(width, height))
    return diagonal / 2, max(2.0, 0.015 * diagonal)


def _circle_alpha(height: int, width: int, p: float) -> np.ndarray:
    reach, soft = circle_edge(height, width)
    inner = p * (reach + soft) - soft  # B is full inside `inner`, A outside `inner + soft`
    t = np.clip((_radius(height, width) - inner) / soft, 0.0, 1.0)
    return (1.0 - t * t * (3.0 - 2.0 * t)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _turns(height: int, width: int) -> np.ndarray:
    """Angle of each pixel centre from 12 o'clock, clockwise, in turns (0 … 1)."""
    y = np.arange(height, dtype=np.float32)[:, None] + 0.5 - height / 2
    x = np.arange(width, dtype=np.float32)[None, :] + 0.5 - width / 2
    return (np.arctan2(x, -y) / np.float32(2 * np.pi)) % np.float32(1.0)
