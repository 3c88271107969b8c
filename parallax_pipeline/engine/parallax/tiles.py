"""Where a layer can land in a frame, on a grid of tiles: the CPU renderer's coarse reach.

A layer usually covers a small part of the frame (a tree, a band of ground, the
background left visible between near things), yet its bounding box can span the whole
frame. So that the renderer solves its map only where it may show:

* once per clip, `summarize` records which canvas tiles hold some of the layer
  (alpha > 0) and the disparity range inside each one;
* per frame, `target_tiles` maps every such tile forward with its own disparity range
  (the frame's pose is affine for a fixed disparity, so its corners bound it) and marks
  the frame tiles it can reach.

The renderer then decides per frame block inside those tiles (`kernels.classify_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TILE = 32
"""Tile side in pixels: small enough to follow thin layers, large enough that marking
the tiles costs little per frame."""

@dataclass(frozen=True)
class TileSummary:
    """The canvas tiles of one layer that hold some of it: pixel bounds (x0, y0, x1, y1,
    canvas coordinates, end exclusive) and the disparity range inside each."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    d_lo: np.ndarray
    d_hi: np.ndarray


def summarize(
    alpha: np.ndarray, disparity: np.ndarray | float, left: int, top: int, step: int = 1, tile: int | None = None
) -> TileSummary:
    """Tiles of a layer box (``alpha``: uint8 hxw, the box's top-left corner at canvas
    (``left``, ``top``)) holding alpha > 0, with the disparity range there (``disparity``:
    float32, per pixel (``step`` 1) or per block of ``step`` pixels, whose neighbours'
    range is used to be safe; or one value for a plane layer)."""
    tile = tile or TILE
    from parallax_pipeline.engine.parallax.kernels import tile_ranges  # numba: imported when rendering

    h, w = alpha.shape
    if np.isscalar(disparity) or np.ndim(disparity) == 0:
        lo = hi = np.full((1, 1), float(disparity), np.float32)
        step = -(-max(h, w, 1) // tile) * tile  # one block, whole tiles: the whole box
    else:
        lo = hi = np.asarray(disparity, np.float32)
        if step > 1:  # block means: each block may reach its neighbours' values
            kernel = np.ones((3, 3), np.uint8)
            lo, hi = cv2.erode(lo, kernel), cv2.dilate(hi, kernel)
    if lo.shape[0] < -(-h // step) or lo.shape[1] < -(-w // step):
        raise ValueError(f"disparity blocks {lo.shape} do not cover a {w}x{h} box at {step} px a block")
    if max(step, tile) % min(step, tile):
        raise ValueError(f"tiles ({tile} px) and disparity blocks ({step} px) must nest")
    th, tw = -(-h // tile), -(-w // tile)
    present = np.zeros((th, tw), bool)
    d_lo, d_hi = np.full((th, tw), np.inf), np.full((th, tw), -np.inf)
    tile_ranges(alpha, lo, hi, step, tile, present, d_lo, d_hi)
    rows, cols = np.nonzero(present)
    d_lo, d_hi = d_lo[rows, cols], d_hi[rows, cols]
    x0 = left + cols * tile
    y0 = top + rows * tile
    return TileSummary(
        x0=x0.astype(np.float64),
        y0=y0.astype(np.float64),
        x1=np.minimum(x0 + tile, left + w).astype(np.float64),
        y1=np.minimum(y0 + tile, top + h).astype(np.float64),
        d_lo=np.asarray(d_lo, np.float64),
        d_hi=np.asarray(d_hi, np.float64),
    )


def target_tiles(
    summary: TileSummary,
    frame_size: tuple[int, int],
    frame_centre: tuple[float, float],
    canvas_centre: tuple[float, float],
    terms: tuple[float, float, float, float],
    tile: int | None = None,
    margin: float = 0.0,
) -> np.ndarray:
    """Bool grid (rows, cols) of the frame tiles the layer can reach under a pose.

    ``terms`` = (S, Kx, Ky, zoom) from `parallax.Geometry.terms`: canvas point P of
    disparity d lands on ``c_f + S·(P − c + K·d) / (1 − zoom·d)``. A pixel more on
    every side covers bilinear sampling, ``margin`` frame pixels more a map that is
    only close to the exact one (the renderer's, blended inside blocks).
    """
    tile = tile or TILE
    width, height = frame_size
    grid = np.zeros((-(-height // tile), -(-width // tile)), bool)
    if summary.x0.size:
        from parallax_pipeline.engine.parallax.kernels import reach_tiles  # numba: imported when rendering

        reach_tiles(
            summary.x0, summary.y0, summary.x1, summary.y1, summary.d_lo, summary.d_hi,
            (float(width), float(height)), tuple(map(float, frame_centre)), tuple(map(float, canvas_centre)),
            tuple(map(float, terms)), tile, float(margin), grid,
        )
    return grid
