"""Camera motion: typed parameters of a move and the per-frame camera path they define."""

from __future__ import annotations

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
