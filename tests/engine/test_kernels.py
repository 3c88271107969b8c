"""The CPU renderer's compiled kernels against plain numpy statements of what they do."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine import kernels, tiles


def premultiplied(rng: np.random.Generator, shape, alpha: np.ndarray) -> np.ndarray:
    """Random premultiplied RGBA with the given alpha (colour <= alpha)."""
    colour = rng.integers(0, 256, (*shape, 3))
    rgba = np.empty((*shape, 4), np.uint8)
    rgba[..., :3] = (colour * alpha[..., None] + 127) // 255
    rgba[..., 3] = alpha
    return rgba


def test_under_is_the_premultiplied_under_operator():
    rng = np.random.default_rng(3)
    shape = (64, 96)
    levels = np.array([0, 0, 255, 255, 255, 1, 77, 128, 254])  # mostly empty or opaque, some rims
    target = premultiplied(rng, shape, rng.choice(levels, shape))
    layer = premultiplied(rng, shape, rng.choice(levels, shape))
    want = np.minimum(target + np.round(layer * ((255 - target[..., 3:4]) / 255.0)), 255)

    got = target.copy()
    kernels.under(got, layer, np.zeros((2, 3), bool), 32)
    assert np.abs(got.astype(int) - want).max() <= 1
    assert np.array_equal(got[target[..., 3] == 255], target[target[..., 3] == 255])  # opaque stays


def test_under_takes_the_layer_as_it_is_on_tiles_nothing_was_drawn_on():
    rng = np.random.default_rng(4)
    garbage = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)  # an unwritten buffer
    layer = premultiplied(rng, (64, 64), rng.choice([0, 255, 90], (64, 64)))
    fresh = np.array([[True, False], [False, True]])
    got = garbage.copy()
    kernels.under(got, layer, fresh, 32)
    assert np.array_equal(got[:32, :32], layer[:32, :32]) and np.array_equal(got[32:, 32:], layer[32:, 32:])
    assert not np.array_equal(got[:32, 32:], layer[:32, 32:])  # drawn tiles were composited


def test_under_works_on_strided_views_of_a_frame():
    rng = np.random.default_rng(5)
    frame = np.zeros((64, 128, 4), np.uint8)
    layer = premultiplied(rng, (32, 64), np.full((32, 64), 255))
    kernels.under(frame[16:48, 32:96], layer, np.zeros((1, 2), bool), 32)
    assert np.array_equal(frame[16:48, 32:96], layer) and not frame[:16].any() and not frame[:, :32].any()


def test_opaque_tiles_marks_only_tiles_opaque_inside_the_frame():
    frame = np.full((64, 96, 4), 255, np.uint8)
    frame[5, 40, 3] = 254  # one rim pixel in tile (0, 1)
    frame[60:, :, 3] = 0  # rows past a 60-pixel frame: not part of it
    opaque = np.zeros((2, 3), bool)
    candidates = np.ones((2, 3), bool)
    candidates[1, 2] = False
    kernels.opaque_tiles(frame, (96, 60), 32, candidates, opaque)
    assert opaque.tolist() == [[True, False, True], [True, True, False]]


@pytest.mark.parametrize("zoom", [0.0, 0.15])
def test_solve_map_is_exact_on_a_tilted_plane(zoom):
    """d(P) = a·x + b·y + c: the fixed point and Aitken's step land on the exact d."""
    step = 8
    h, w = 40, 60  # fields: one value per block of step pixels
    a, b, c = 0.004, -0.003, 0.5
    yy, xx = np.mgrid[0:h, 0:w]
    fields = (a * (step * xx + (step - 1) / 2) + b * (step * yy + (step - 1) / 2) + c).astype(np.float32)
    grid_x = (np.arange(30) * step - 4.5 - 100).astype(np.float32)
    grid_y = (np.arange(20) * step - 4.5 - 60).astype(np.float32)
    s, kx, ky = 1.05, 12.0, -7.0
    origin = (230.0, 150.0)
    grid = np.zeros((20, 30, 2), np.float32)
    kernels.solve_map(fields, step, grid_x, grid_y, np.ones(20, bool), (0, 30), (s, kx, ky, zoom), origin, grid)
    qx, qy = grid_x[None, :] / s, grid_y[:, None] / s
    px, py = qx + origin[0], qy + origin[1]
    ax, ay = kx + zoom * qx, ky + zoom * qy
    d = (a * px + b * py + c) / (1 + a * ax + b * ay)  # P = p − d(P)·A solved for the plane
    assert np.allclose(grid[..., 0], px - d * ax, atol=1e-3) and np.allclose(grid[..., 1], py - d * ay, atol=1e-3)


def test_reach_tiles_covers_where_a_tile_lands():
    alpha = np.zeros((64, 64), np.uint8)
    alpha[20:30, 40:50] = 255
    summary = tiles.summarize(alpha, 0.5, left=0, top=0, tile=16)
    reach = tiles.target_tiles(summary, (64, 64), (31.5, 31.5), (31.5, 31.5), (1.0, 20.0, 0.0, 0.0), tile=16)
    # content at x 40..49 moves 10 px right: 50..59 (tiles 3), rows 20..29 (tile 1)
    assert reach[1, 3] and not reach[:, :2].any() and not reach[3].any()
