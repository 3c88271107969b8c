"""Depth steps put back on the picture's own edges, before the picture is cut into layers.

Depth from a photograph is soft and noisy: a depth estimator or a stereo matcher smears
every step over a window of several pixels, and adds grain. Cut into layers as it is,
such a map puts the cut somewhere inside the ramp, a few pixels off the object's real
outline, so the near layer carries a fringe of background colour with it (a halo that
slides over the background) or leaves a strip of its own colour behind, and the grain
makes spurious small edges everywhere.

`sharpen_disparity` first removes the grain with a 3x3 median (only where it changes a
pixel by less than half a depth edge: steps and corners stay), then decides, for each pixel inside a ramp, which side of
the step it belongs to by its colour: near the step (the disparity spans more than the
clip's depth edge within `RAMP_PX`), the pixels clearly on the near plateau and those
clearly on the far one give the two sides' mean colours around it, and a pixel in
between (strictly between its 3x3 neighbours too: a ramp, not a surface of middle depth
next to a step) takes the disparity of the side whose colour it is closer to. An exact
map with hard steps (the quality bench's) has no pixel in between, so it passes
unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

RAMP_PX = 6
"""Half-width (px) of the window a ramp is looked for in: estimators and stereo smear a
step over about this much."""
PLATEAU = 0.2
"""A pixel within this fraction of the step's span from its top (bottom) is on the near
(far) plateau; the rest is ramp and is given a side by its colour."""


def sharpen_disparity(image: np.ndarray, disparity: np.ndarray, known: np.ndarray, edge: float) -> np.ndarray:
    """``disparity`` (float32 HxW in [0, 1]) with its grain removed and the ramps of its
    steps snapped to the colour edges of ``image`` (uint8 HxWx3); ``known``: the pixels
    that hold the picture (the others keep their values); ``edge``: the smallest
    disparity step that counts (`layers.edge_threshold`). A new array."""
    d = np.ascontiguousarray(disparity, np.float32)
    smooth = cv2.medianBlur(d, 3)
    d = np.where(np.abs(smooth - d) < 0.5 * edge, smooth, d)  # grain, not steps or corners
    side = 2 * RAMP_PX + 1
    square = np.ones((side, side), np.uint8)
    top, bottom = cv2.dilate(d, square), cv2.erode(d, square)
    span = top - bottom
    # a ramp pixel lies strictly between its 3x3 neighbours; on a hard step every pixel
    # is the nearest or farthest of its neighbourhood, and so is a surface of middle
    # depth next to one, which must keep its own disparity
    eps = np.float32(edge / 8.0)
    small = np.ones((3, 3), np.uint8)
    between = (d > cv2.erode(d, small) + eps) & (d < cv2.dilate(d, small) - eps)
    ramp = known & between & (span > edge) & (d < top - PLATEAU * span) & (d > bottom + PLATEAU * span)
    ys, xs = np.nonzero(ramp)
    if ys.size:
        h, w = d.shape
        y0, y1 = np.maximum(ys - RAMP_PX, 0), np.minimum(ys + RAMP_PX + 1, h)
        x0, x1 = np.maximum(xs - RAMP_PX, 0), np.minimum(xs + RAMP_PX + 1, w)

        def mean_colour(side_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Mean colour of the ``side_mask`` pixels in each ramp pixel's window, and
            whether there are any (summed-area tables: cheap for any number of them)."""
            mask = side_mask.view(np.uint8)
            count = cv2.integral(mask)
            sums = cv2.integral(cv2.copyTo(image, mask))

            def box(table: np.ndarray) -> np.ndarray:
                return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]

            n = box(count)
            return box(sums) / np.maximum(n, 1)[:, None], n > 0

        near_colour, has_near = mean_colour(known & (d >= top - PLATEAU * span))
        far_colour, has_far = mean_colour(known & (d <= bottom + PLATEAU * span))
        colour = image[ys, xs].astype(np.float64)
        closer_near = ((colour - near_colour) ** 2).sum(axis=1) < ((colour - far_colour) ** 2).sum(axis=1)
        decided = has_near & has_far
        d = d.copy()
        d[ys[decided], xs[decided]] = np.where(closer_near, top[ys, xs], bottom[ys, xs])[decided]
    out = np.where(known, d, disparity)
    return np.ascontiguousarray(out, dtype=np.float32)
