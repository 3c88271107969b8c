"""Tile summaries and reach: every tile a layer lands on is marked."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine.parallax import tiles


def test_summarize_gives_each_tile_the_disparity_range_where_the_layer_is():
    rng = np.random.default_rng(0)
    h, w, step, tile = 70, 90, 8, 16
    alpha = (rng.random((h, w)) < 0.3).astype(np.uint8) * 200
    alpha[:, 40:] = 0  # columns of tiles without the layer
    fields = rng.random((-(-h // step), -(-w // step))).astype(np.float32)
    summary = tiles.summarize(alpha, fields, left=5, top=7, step=step, tile=tile)
    # per pixel: the block's value, widened by its neighbours' (erode / dilate 3x3)
    pad = np.pad(fields, 1, mode="edge")
    shifts = [pad[1 + dy : 1 + dy + fields.shape[0], 1 + dx : 1 + dx + fields.shape[1]] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    lo = np.min(shifts, axis=0).repeat(step, 0).repeat(step, 1)[:h, :w]
    hi = np.max(shifts, axis=0).repeat(step, 0).repeat(step, 1)[:h, :w]
    want = {}
    for r in range(-(-h // tile)):
        for c in range(-(-w // tile)):
            on = alpha[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] > 0
            if on.any():
                part = (slice(r * tile, (r + 1) * tile), slice(c * tile, (c + 1) * tile))
                want[(5 + c * tile, 7 + r * tile)] = (lo[part][on].min(), hi[part][on].max())
    got = {(int(x), int(y)): (a, b) for x, y, a, b in zip(summary.x0, summary.y0, summary.d_lo, summary.d_hi)}
    assert got.keys() == want.keys() and all(x < 5 + 40 for x, _ in got)
    assert all(np.allclose(got[k], want[k]) for k in want)
    assert (summary.x1 <= 5 + w).all() and (summary.y1 <= 7 + h).all()
    plane = tiles.summarize(alpha, 0.25, left=0, top=0, tile=tile)
    assert plane.x0.size == len(want) and (plane.d_lo == 0.25).all() and (plane.d_hi == 0.25).all()


def test_target_tiles_list_every_tile_a_moved_layer_reaches():
    alpha = np.zeros((100, 160), np.uint8)
    alpha[30:50, 20:30] = 255  # a small block of a layer at disparity 0.5
    summary = tiles.summarize(alpha, 0.5, left=0, top=0, tile=16)
    assert summary.x0.size == 3  # x 20-30 lies in one tile column, y 30-50 in three rows
    kx, ky = 40.0, -10.0  # the block moves by K·d = (20, −5) px
    grid = tiles.target_tiles(summary, (160, 100), (79.5, 49.5), (79.5, 49.5), (1.0, kx, ky, 0.0), tile=16)
    landed = np.zeros((100, 160), bool)
    landed[25:45, 40:50] = True
    rows, cols = np.nonzero(landed)
    assert grid[rows // 16, cols // 16].all()
    assert grid.sum() <= 9  # and not much more


def test_summarize_refuses_disparity_blocks_that_do_not_cover_the_box():
    with pytest.raises(ValueError, match="do not cover"):
        tiles.summarize(np.full((200, 200), 255, np.uint8), np.full((2, 2), 0.5, np.float32), 0, 0, step=8)
