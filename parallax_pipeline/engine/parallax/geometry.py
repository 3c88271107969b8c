"""Where the frame lies on the canvas, and where a camera pose sends a canvas point.

The canvas is the reference picture magnified by the clip's overscan (``base_scale``)
and centred on the frame, with a margin wide enough for everything any frame samples.
A canvas point ``P`` of disparity ``d`` appears in the frame at

    p' = c_f + S · (P − c + K·d) / (1 − zoom·d)

(`Geometry.terms` gives S, K, zoom for a `CameraPose`; c and c_f are the canvas and
frame centres). Backwards, a frame pixel p' with ``q = (p' − c_f)/S`` sees the canvas at

    P = c + q − d·(K + zoom·q)

which is linear in the disparity, so one Newton step finds ``d`` on a smooth layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parallax_pipeline.engine.parallax.camera import CameraPose

MARGIN_PX = 2
"""Extra canvas pixels beyond the farthest source position any frame samples."""


def valid_pose(pose: CameraPose) -> None:
    """Raise ValueError for a pose no camera can take."""
    if not pose.scale > 0 or not pose.zoom < 1:
        raise ValueError(f"unusable camera pose {pose}: scale must be > 0 and zoom < 1")


def overscan_for(poses: Sequence[CameraPose], disparity: np.ndarray, limit: float = 1.17) -> float:
    """Magnification that keeps every frame's border inside the reference picture.

    A frame border pixel at ``q`` from the centre (``q`` = half the frame, over the
    scale S) with disparity ``d`` samples the reference at ``q·(1 − zoom·d) − W·d·dx``;
    it stays inside when ``S ≥ (1 − zoom·d) / (1 − 2W/(W−1)·|dx|·d)`` (``2W/(H−1)·|dy|``
    vertically). ``d`` ranges over 0 and the largest disparity in the frame's outer band
    on that axis (content entering from outside continues what is at the border).
    Capped at ``limit`` (1 + the motion's range); what the cap leaves uncovered is
    inpainted.
    """
    h, w = disparity.shape
    band_x = max(2, round(0.02 * w))
    band_y = max(2, round(0.02 * h))
    d_x = float(max(disparity[:, :band_x].max(), disparity[:, -band_x:].max()))
    d_y = float(max(disparity[:band_y].max(), disparity[-band_y:].max()))
    need = 1.0
    for pose in poses:
        for d in (0.0, d_x):
            room = 1.0 - 2.0 * w / max(w - 1, 1) * abs(pose.dx) * d
            need = max(need, (1.0 - pose.zoom * d) / pose.scale / room if room > 0 else math.inf)
        for d in (0.0, d_y):
            room = 1.0 - 2.0 * w / max(h - 1, 1) * abs(pose.dy) * d
            need = max(need, (1.0 - pose.zoom * d) / pose.scale / room if room > 0 else math.inf)
    return min(need, max(1.0, limit))


@dataclass(frozen=True)
class Geometry:
    """Where the frame lies on the canvas.

    Frame and canvas centres coincide, so at relative scale 1 a frame pixel (x, y) sits
    on canvas pixel (x + ox, y + oy). ``base_scale``: canvas pixels per reference-frame
    pixel (the clip's overscan).
    """

    frame_width: int
    frame_height: int
    ox: int
    oy: int
    base_scale: float

    @property
    def canvas_size(self) -> tuple[int, int]:
        return self.frame_width + 2 * self.ox, self.frame_height + 2 * self.oy

    @property
    def frame_centre(self) -> tuple[float, float]:
        return (self.frame_width - 1) / 2.0, (self.frame_height - 1) / 2.0

    @property
    def canvas_centre(self) -> tuple[float, float]:
        cx, cy = self.frame_centre
        return cx + self.ox, cy + self.oy

    def terms(self, pose: CameraPose) -> tuple[float, float, float, float]:
        """(S, Kx, Ky, zoom) of ``pose`` on the canvas (see the module docstring)."""
        unit = self.base_scale * self.frame_width  # canvas px per unit of offset·disparity
        return pose.scale / self.base_scale, unit * pose.dx, unit * pose.dy, pose.zoom

    def reach(self, pose: CameraPose) -> float:
        """Largest motion (canvas px) of a near surface (d = 1) relative to a far one."""
        s, kx, ky, z = self.terms(pose)
        corner = math.hypot(self.frame_width / 2.0, self.frame_height / 2.0) / max(s, 1e-6)
        return (abs(z) * corner + math.hypot(kx, ky)) / (1.0 - z)

    @staticmethod
    def around(width: int, height: int, base_scale: float, poses: Sequence[CameraPose]) -> Geometry:
        """The smallest canvas from which every frame of ``poses`` can be sampled."""
        probe = Geometry(width, height, 0, 0, base_scale)
        cx, cy = probe.frame_centre
        need_x, need_y = cx, cy
        for pose in poses:
            s, kx, ky, z = probe.terms(pose)
            for d in (0.0, 1.0):  # a frame corner q samples c + q·(1 − zoom·d) − K·d
                m = 1.0 - z * d
                need_x = max(need_x, cx / s * m + abs(kx) * d)
                need_y = max(need_y, cy / s * m + abs(ky) * d)
        ox = max(0, math.ceil(need_x - cx)) + MARGIN_PX
        oy = max(0, math.ceil(need_y - cy)) + MARGIN_PX
        return Geometry(width, height, ox, oy, base_scale)
