"""Filling unknown pixels from known ones: the hidden background of a parallax layer.

`fill` is a pull-push (multi-resolution) interpolation: known pixels are averaged down
a Gaussian pyramid with their weights, then each level is completed from the coarser
one on the way back up. Every unknown pixel gets a blend of the known pixels around it,
with nearer ones weighted more and farther ones reached at coarser levels, in time
linear in the pixel count (a few milliseconds per megapixel and channel).

`harmonic` then relaxes the filled pixels towards the solution of Laplace's equation
with the known pixels as boundary values (Jacobi steps from coarse to fine). It removes
the blotches pull-push leaves at coarse-level block edges and continues shading
gradients into the hole instead of flattening them, which is what a disocclusion a few
dozen pixels wide mostly shows: the smooth continuation of the surface behind.
"""

from __future__ import annotations

import cv2
import numpy as np


def _as_hwc(values: np.ndarray) -> np.ndarray:
    return values if values.ndim == 3 else values[:, :, None]


def fill(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Pull-push fill of the pixels where ``known`` is 0.

    ``values``: float32 HxW or HxWxC (C <= 4); ``known``: HxW weights in [0, 1] (bool
    or float). Returns a new float32 array of ``values``' shape: known pixels (weight 1)
    keep their value, the others get a smooth weighted interpolation of their
    surroundings. With no known pixel at all the result is zeros.
    """
    binary = np.asarray(known).dtype in (np.bool_, np.uint8)  # 0/1 masks: a faster finest level
    values = np.asarray(values, dtype=np.float32)
    weight = np.asarray(known, dtype=np.float32)
    if weight.shape != values.shape[:2]:
        raise ValueError(f"known mask {weight.shape} does not match values {values.shape}")
    if not (weight > 0).any():
        return np.zeros_like(values)
    premultiplied = _as_hwc(values) * weight[:, :, None]
    levels = [(premultiplied, weight)]
    v, w = premultiplied, weight
    while max(w.shape) > 1:
        v, w = _as_hwc(cv2.pyrDown(v)), cv2.pyrDown(w)
        levels.append((v, w))
    channels = premultiplied.shape[2]
    if binary and len(levels) > 1:
        # with weights of 0 or 1 the finest level is the coarser fill where nothing is
        # known and the values themselves elsewhere (set by the copy at the end)
        levels[0] = None

    def spread(plane: np.ndarray) -> np.ndarray:  # one weight per channel
        return plane if channels == 1 else cv2.merge([plane] * channels)

    v, w = levels[-1]
    filled = _as_hwc(cv2.divide(v, spread(np.maximum(w, 1e-12))))
    for level in reversed(levels[:-1]):
        if level is None:
            filled = _as_hwc(cv2.pyrUp(filled, dstsize=(weight.shape[1], weight.shape[0])))
            break
        v, w = level
        up = _as_hwc(cv2.pyrUp(filled, dstsize=(w.shape[1], w.shape[0])))
        # A level's own average takes over where it has enough weight: the factor 2
        # treats half-covered pixels as known, which keeps edges of the fill sharp.
        a = spread(cv2.min(w * 2.0, 1.0))
        own = cv2.divide(v, spread(cv2.max(w, 1e-12)))
        filled = _as_hwc(cv2.add(up, cv2.multiply(a.reshape(up.shape), cv2.subtract(own.reshape(up.shape), up))))
    filled = filled.reshape(values.shape).astype(np.float32, copy=False)
    cv2.copyTo(values, (weight >= 1.0).view(np.uint8) if weight.dtype == bool else (weight >= 1.0).astype(np.uint8), filled)
    return filled


def harmonic(values: np.ndarray, known: np.ndarray, iterations: int = 8, levels: int = 4) -> np.ndarray:
    """``fill`` followed by Jacobi relaxation of the unknown pixels, coarse to fine.

    ``values``: float32 HxW or HxWxC; ``known``: HxW weights in [0, 1] as for ``fill``
    (pixels of weight >= 0.5 keep their value during the relaxation). At each of
    ``levels`` scales (halving each time) the unknown pixels are replaced by the average
    of their four neighbours, ``iterations`` times at full size and twice as often at
    each coarser scale, which converges towards the harmonic interpolant of the known
    boundary; the coarse levels carry the slow, long-range part of that convergence.
    """
    values = np.asarray(values, dtype=np.float32)
    weight = np.asarray(known, dtype=np.float32)
    start = fill(values, weight)
    fixed = weight >= 0.5
    if fixed.all() or not fixed.any():
        return start
    return _relax(start, fixed, iterations, levels)


_KERNEL = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


def _relax(values: np.ndarray, fixed: np.ndarray, iterations: int, levels: int) -> np.ndarray:
    h, w = fixed.shape
    out = values.copy()
    if levels > 1 and min(h, w) >= 16:
        size = ((w + 1) // 2, (h + 1) // 2)
        small_fixed = cv2.resize(fixed.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        coarse = _relax(cv2.resize(values, size, interpolation=cv2.INTER_AREA), small_fixed, 2 * iterations, levels - 1)
        out = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(values.shape)
        cv2.copyTo(values, fixed.astype(np.uint8), out)
    mask = fixed.astype(np.uint8)
    for _ in range(iterations):
        smoothed = cv2.filter2D(out, -1, _KERNEL, borderType=cv2.BORDER_REPLICATE).reshape(values.shape)
        cv2.copyTo(values, mask, smoothed)  # known pixels keep their value
        out = smoothed
    return out
