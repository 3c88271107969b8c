"""Tile work lists: exact rectangle covers, and every pixel a layer lands on is listed."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine import tiles


@pytest.mark.parametrize("slack", [0, tiles.SLACK])
def test_rectangles_cover_the_cells_once(slack):
    rng = np.random.default_rng(0)
    for _ in range(300):
        grid = rng.random((9, 13)) < rng.random()
        cover = np.zeros(grid.shape, int)
        rects = tiles.rectangles(grid, slack)
        for r0, r1, c0, c1 in rects:
            assert r0 < r1 and c0 < c1
            cover[r0:r1, c0:c1] += 1
        assert cover.max() <= 1 and (cover[grid] == 1).all()  # disjoint, nothing missed
        if slack == 0:
            assert (cover == grid).all()  # exact: safe to overwrite


def test_slack_trades_a_little_area_for_fewer_rectangles():
    grid = np.zeros((8, 20), bool)
    grid[:, 3:6] = True
    grid[2:5, 7:9] = True  # a nearby blob
    assert len(tiles.rectangles(grid, 0)) > len(tiles.rectangles(grid, 6)) == 1


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
