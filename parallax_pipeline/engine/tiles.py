"""Where a layer can land in a frame, on a grid of tiles: the CPU renderer's work list.

A layer usually covers a small part of the frame (a tree, a band of ground, the
background left visible between near things), yet its bounding box can span the whole
frame. The renderer therefore works per layer on rectangles of `TILE`-pixel tiles:

* once per clip, `summarize` records which canvas tiles hold some of the layer
  (alpha > 0) and the disparity range inside each one;
* per frame, `target_tiles` maps every such tile forward with its own disparity range
  (the frame's pose is affine for a fixed disparity, so its corners bound it) and marks
  the frame tiles it can reach; `rectangles` cuts the marked tiles into few disjoint
  rectangles (runs of tiles per row, merged downwards while they line up).

Layers are composited near to far, and tiles that are already opaque are dropped from
the farther layers' lists, so each frame pixel is warped about once plus a little
along the edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TILE = 32
"""Tile side in pixels: small enough to follow thin layers, large enough that the
per-rectangle overhead stays below the pixel work."""
SLACK = 6
"""Tiles of extra area worth one rectangle fewer (the fixed cost of a warp call)."""


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
    h, w = alpha.shape
    th, tw = -(-h // tile), -(-w // tile)
    on = np.zeros((th * tile, tw * tile), bool)
    on[:h, :w] = alpha > 0
    blocks = on.reshape(th, tile, tw, tile)
    present = blocks.any(axis=(1, 3))
    rows, cols = np.nonzero(present)
    if np.isscalar(disparity) or np.ndim(disparity) == 0:
        d_lo = d_hi = np.full(rows.size, float(disparity))
    else:
        d = np.zeros(on.shape, np.float32)
        lo = hi = np.asarray(disparity, np.float32)
        if step > 1:  # block means: each block may reach its neighbours' values
            kernel = np.ones((3, 3), np.uint8)
            lo = np.repeat(np.repeat(cv2.erode(lo, kernel), step, axis=0), step, axis=1)[:h, :w]
            hi = np.repeat(np.repeat(cv2.dilate(hi, kernel), step, axis=0), step, axis=1)[:h, :w]
        d[:h, :w] = lo
        d_lo = np.where(blocks, d.reshape(th, tile, tw, tile), np.inf).min(axis=(1, 3))[rows, cols]
        d[:h, :w] = hi
        d_hi = np.where(blocks, d.reshape(th, tile, tw, tile), -np.inf).max(axis=(1, 3))[rows, cols]
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
) -> np.ndarray:
    """Bool grid (rows, cols) of the frame tiles the layer can reach under a pose.

    ``terms`` = (S, Kx, Ky, zoom) from `parallax.Geometry.terms`: canvas point P of
    disparity d lands on ``c_f + S·(P − c + K·d) / (1 − zoom·d)``. A pixel more on
    every side covers bilinear sampling.
    """
    tile = tile or TILE
    width, height = frame_size
    grid = np.zeros((-(-height // tile), -(-width // tile)), bool)
    if summary.x0.size:
        from parallax_pipeline.engine.kernels import reach_tiles  # numba: imported when rendering

        reach_tiles(
            summary.x0, summary.y0, summary.x1, summary.y1, summary.d_lo, summary.d_hi,
            (float(width), float(height)), tuple(map(float, frame_centre)), tuple(map(float, canvas_centre)),
            tuple(map(float, terms)), tile, grid,
        )
    return grid


def rectangles(grid: np.ndarray, slack: int = 0) -> list[tuple[int, int, int, int]]:
    """Disjoint rectangles (row0, row1, col0, col1; ends exclusive) covering the True
    cells of ``grid``, few of them: each costs a fixed overhead, worth about ``slack``
    tiles of pixel work.

    Runs of a row at most ``slack`` / 2 tiles apart are joined; a run extends the
    rectangle above it when widening that rectangle to the union of both spans adds at
    most ``slack`` tiles. With ``slack`` > 0 rectangles may therefore include False cells
    (harmless when compositing: a layer adds nothing where it cannot land); with 0 they
    cover the True cells exactly.
    """
    rows, cols = grid.shape
    gap = slack // 2
    rects: list[tuple[int, int, int, int]] = []
    open_rects: list[list[int]] = []  # [row0, col0, col1]
    padded = np.zeros(cols + 2, np.int8)
    for r in range(rows):
        padded[1:-1] = grid[r]
        edges = np.flatnonzero(np.diff(padded)).tolist()
        runs: list[list[int]] = []
        for c0, c1 in zip(edges[::2], edges[1::2]):
            if runs and c0 - runs[-1][1] <= gap:
                runs[-1][1] = c1
            else:
                runs.append([c0, c1])
        still_open = []
        for c0, c1 in runs:
            best = None
            for rect in open_rects:
                if rect[2] <= c0 or c1 <= rect[1]:
                    continue  # no overlap
                lo, hi = min(rect[1], c0), max(rect[2], c1)
                waste = (hi - lo - (rect[2] - rect[1])) * (r - rect[0]) + (hi - lo) - (c1 - c0)
                # the widened rectangle may not reach into another rectangle or run
                # (the widening applies to all its rows, so closed rectangles count too)
                clash = (
                    any(o is not rect and o[1] < hi and lo < o[2] for o in open_rects + still_open)
                    or any(o[0] < hi and lo < o[1] for o in runs if o[0] != c0)
                    or any(q[1] > rect[0] and q[2] < hi and lo < q[3] for q in rects)
                )
                if waste <= slack and not clash and (best is None or waste < best[0]):
                    best = (waste, rect, lo, hi)
            if best is not None:
                _, rect, rect[1], rect[2] = best
                open_rects.remove(rect)
                still_open.append(rect)
            else:
                still_open.append([r, c0, c1])
        rects.extend((r0, r, c0, c1) for r0, c0, c1 in open_rects)
        open_rects = still_open
    rects.extend((r0, rows, c0, c1) for r0, c0, c1 in open_rects)
    return rects
