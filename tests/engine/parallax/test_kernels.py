"""The CPU renderer's compiled kernels against plain numpy statements of what they do."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine.parallax import kernels, tiles


def premultiplied(rng: np.random.Generator, shape, alpha: np.ndarray) -> np.ndarray:
    """Random premultiplied RGBA with the given alpha (colour <= alpha)."""
    colour = rng.integers(0, 256, (*shape, 3))
    rgba = np.empty((*shape, 4), np.uint8)
    rgba[..., :3] = (colour * alpha[..., None] + 127) // 255
    rgba[..., 3] = alpha
    return rgba


def under_reference(target: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """``target + layer · (255 − α_target) / 255``, rounded, in floats."""
    return np.minimum(target + np.round(layer * ((255 - target[..., 3:4]) / 255.0)), 255)


def test_under_is_the_premultiplied_under_operator():
    rng = np.random.default_rng(3)
    shape = (64, 64)
    levels = np.array([0, 0, 255, 255, 255, 1, 77, 128, 254])  # mostly empty or opaque, some rims
    target = premultiplied(rng, shape, rng.choice(levels, shape))
    layer = premultiplied(rng, shape, rng.choice(levels, shape))
    got = target.copy()  # one 64-pixel block
    one = np.zeros((1, 2), np.int32)
    kernels.under_blocks(got.view(np.uint32)[..., 0], layer.view(np.uint32)[..., 0], one, 0, 1, 1, 64, 1)
    assert np.abs(got.astype(int) - under_reference(target, layer)).max() <= 1
    assert np.array_equal(got[target[..., 3] == 255], target[target[..., 3] == 255])  # opaque stays


def test_under_blocks_composites_packed_squares_in_order():
    """Entries name frame blocks; the squares packed `pack` a row go under them in turn."""
    rng = np.random.default_rng(4)
    block, pack, block_cols = 8, 2, 3
    frame = premultiplied(rng, (16, 24), rng.choice([0, 255, 128], (16, 24)))
    squares = [premultiplied(rng, (8, 8), rng.choice([0, 255, 60], (8, 8))) for _ in range(3)]
    warped = np.zeros((16, 16, 4), np.uint8)
    for e, square in enumerate(squares):
        warped[(e // pack) * 8 : (e // pack + 1) * 8, (e % pack) * 8 : (e % pack + 1) * 8] = square
    entries = np.array([[4, 0], [4, 1], [0, 1]], np.int32)  # block 4 = row 1, column 1; twice
    want = frame.astype(float)
    for (index, _), square in zip(entries, squares):
        by, bx = divmod(int(index), block_cols)
        part = want[by * 8 : by * 8 + 8, bx * 8 : bx * 8 + 8]
        part[:] = under_reference(part, square)
    got = frame.copy()
    words = got.view(np.uint32)[..., 0]
    kernels.under_blocks(words, warped.view(np.uint32)[..., 0], entries, 0, 3, block_cols, block, pack)
    assert np.abs(got.astype(int) - want).max() <= 2  # two roundings on block 4
    untouched = np.ones((16, 24), bool)
    untouched[:8, :8] = untouched[8:, 8:16] = False
    assert np.array_equal(got[untouched], frame[untouched])


def test_open_entries_keeps_in_order_the_blocks_short_of_opaque():
    """A block the frame already covers needs nothing under it; the others keep their order."""
    block, block_cols = 8, 3
    frame = np.zeros((16, 24, 4), np.uint8)
    frame[..., 3] = 255  # all opaque ...
    frame[3, 9, 3] = 254  # ... but one pixel of block 1 (row 0, column 1)
    frame[8:, 16:, 3] = 0  # and block 5 (row 1, column 2)
    entries = np.array([[0, 1], [1, 2], [5, 1], [4, 2], [1, 0]], np.int32)
    words = frame.view(np.uint32)[..., 0]
    end = kernels.open_entries(words, entries, 1, 5, block_cols, block)  # rows 1..4 only
    assert end == 4
    assert entries[:4].tolist() == [[0, 1], [1, 2], [5, 1], [1, 0]]


@pytest.mark.parametrize("level", [0, 255])
def test_cell_table_counts_cells_holding_alpha(level):
    rng = np.random.default_rng(5)
    alpha = rng.choice(np.array([0, 255, 100], np.uint8), (37, 42), p=[0.5, 0.45, 0.05])
    alpha[8:24, 8:24] = level  # a stretch of cells none of which counts
    table = kernels.cell_table(alpha, 4, level)
    padded = np.full((40, 44), 0 if level == 0 else 100, np.uint8)  # past the edge: transparent
    padded[:37, :42] = alpha
    cells = padded.reshape(10, 4, 11, 4)
    hit = (cells > 0) if level == 0 else (cells < 255)
    want = np.zeros((11, 12), int)
    want[1:, 1:] = hit.any(axis=(1, 3)).cumsum(0).cumsum(1)
    assert np.array_equal(table, want)
    assert table[6, 6] - table[2, 6] - table[6, 2] + table[2, 2] == 0


def test_classify_blocks_owner_entries_and_cover():
    """A layer shifted 3 px right over frame blocks: blocks it covers fully are covered,
    blocks on its soft edge are owned but stay open, the others are left to the layer
    behind, which fills them and composites under the edge blocks."""
    block, size = 8, 64
    alpha = np.zeros((size, size), np.uint8)
    alpha[:, :28] = 255
    alpha[:, 28:30] = 128  # a soft edge at box x 28..29, frame x 31..32
    present, partial = kernels.cell_table(alpha, 4, 0), kernels.cell_table(alpha, 4, 255)
    corners = np.arange(size // block + 1, dtype=np.float32) * block - 0.5
    grid = np.zeros((9, 9, 2), np.float32)
    grid[..., 0], grid[..., 1] = corners[None, :] - 3.0, corners[:, None]  # box = frame − 3 px in x
    owner = np.full((8, 8), -1, np.int8)
    covered = np.zeros((8, 8), bool)
    entries = np.zeros((64, 2), np.int32)
    reach = np.ones((2, 2), bool)  # tiles of 32 px: 4 blocks a side
    count = kernels.classify_blocks(grid, reach, 4, (size, size), False, present, partial, 4, 1, owner, covered, entries, 0)
    assert count == 0
    # frame block column c samples box x 8c − 4.5 … 8c + 6.5 (with the bilinear margin):
    # the edge (frame x 31..32) shows in columns 3 and 4, which stay open
    assert (owner[:, :5] == 1).all() and (owner[:, 5:] == -1).all()
    # covered: only where the footprint is opaque and inside the box (the box's own
    # edges are transparent beyond)
    assert covered[1:7, :3].sum() == 12 and not covered[:, 3:].any() and not covered[[0, 7]].any()
    open_behind = sorted(np.flatnonzero((owner == 1) & ~covered).tolist())
    # the background (opaque) layer: owns the open blocks, listed behind the edge blocks
    count = kernels.classify_blocks(grid, reach, 4, (size, size), True, present, partial, 4, 0, owner, covered, entries, count)
    assert (owner[:, 5:] == 0).all() and covered.all()
    assert sorted(entries[:count, 0].tolist()) == open_behind and {3, 4, 11, 12} <= set(open_behind)
    assert (entries[:count, 1] == 0).all()


def test_block_maps_blend_the_corners_and_clamp():
    rng = np.random.default_rng(6)
    block, rows, cols = 8, 3, 4
    grids = rng.uniform(-5, 60, (2, rows + 1, cols + 1, 2)).astype(np.float32)
    owner = rng.integers(0, 2, (rows, cols)).astype(np.int8)
    offsets = np.array([[2, 2], [2, 70]], np.float32)
    bounds = np.array([[2, 50, 2, 50], [1, 61, 69, 131]], np.float32)
    map_x = np.zeros((rows * block, cols * block), np.float32)
    map_y = np.zeros_like(map_x)
    kernels.owner_maps(grids, owner, 0, rows, block, offsets, bounds, map_x, map_y)
    t = (np.arange(block) + 0.5) / block
    for by in range(rows):
        for bx in range(cols):
            k = owner[by, bx]
            g = grids[k, by : by + 2, bx : bx + 2]  # corners
            want = (
                g[0, 0] * ((1 - t)[:, None, None] * (1 - t)[None, :, None])
                + g[0, 1] * ((1 - t)[:, None, None] * t[None, :, None])
                + g[1, 0] * (t[:, None, None] * (1 - t)[None, :, None])
                + g[1, 1] * (t[:, None, None] * t[None, :, None])
            ) + offsets[k]
            want[..., 0] = np.clip(want[..., 0], bounds[k, 0], bounds[k, 1])
            want[..., 1] = np.clip(want[..., 1], bounds[k, 2], bounds[k, 3])
            got = np.dstack([m[by * 8 : by * 8 + 8, bx * 8 : bx * 8 + 8] for m in (map_x, map_y)])
            assert np.allclose(got, want, atol=1e-3)
    # the same blocks packed as entries (two a row) give the same maps
    entries = np.array([[5, owner.flat[5]], [10, owner.flat[10]], [0, owner.flat[0]]], np.int32)
    packed_x, packed_y = np.zeros((16, 16), np.float32), np.zeros((16, 16), np.float32)
    kernels.entry_maps(grids, entries, 0, 3, cols, block, 2, offsets, bounds, packed_x, packed_y)
    for e, (index, _) in enumerate(entries):
        by, bx = divmod(int(index), cols)
        py, px = (e // 2) * 8, (e % 2) * 8
        assert np.array_equal(packed_x[py : py + 8, px : px + 8], map_x[by * 8 : by * 8 + 8, bx * 8 : bx * 8 + 8])
        assert np.array_equal(packed_y[py : py + 8, px : px + 8], map_y[by * 8 : by * 8 + 8, bx * 8 : bx * 8 + 8])


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
    spans = np.tile(np.int32([0, 30]), (20, 1))
    need = np.ones((20, 30), bool)
    need[5, 7] = False  # a corner no block needs is left as it was
    kernels.solve_map(fields, step, grid_x, grid_y, spans, need, (s, kx, ky, zoom), origin, grid)
    assert (grid[5, 7] == 0).all()
    only = np.int32([[7, 8]] * 20)  # now column 7 alone, needed: the rest is left as it is
    kernels.solve_map(fields, step, grid_x, grid_y, only, np.ones((20, 30), bool), (s, kx, ky, zoom), origin, grid)
    qx, qy = grid_x[None, :] / s, grid_y[:, None] / s
    px, py = qx + origin[0], qy + origin[1]
    ax, ay = kx + zoom * qx, ky + zoom * qy
    d = (a * px + b * py + c) / (1 + a * ax + b * ay)  # P = p − d(P)·A solved for the plane
    assert np.allclose(grid[..., 0], px - d * ax, atol=1e-3) and np.allclose(grid[..., 1], py - d * ay, atol=1e-3)


def test_corner_spans_cover_the_corners_of_open_reached_blocks():
    reach = np.array([[True, False], [False, True]])  # tiles of 2x2 blocks
    covered = np.zeros((4, 4), bool)
    covered[0, 0] = covered[3, 3] = True
    spans = np.zeros((5, 2), np.int32)
    need = np.zeros((5, 5), bool)
    assert kernels.corner_spans(reach, 2, covered, spans, need)
    open_blocks = [(0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2)]
    want = np.zeros((5, 5), bool)
    for by, bx in open_blocks:
        want[by : by + 2, bx : bx + 2] = True
    assert np.array_equal(need, want)
    for r in range(5):
        cols = [c + dc for b, c in open_blocks for dc in (0, 1) if b in (r - 1, r)]
        assert tuple(spans[r]) == ((min(cols), max(cols) + 1) if cols else (5, 0))
    covered[:] = True
    assert not kernels.corner_spans(reach, 2, covered, spans, need) and (spans[:, 0] >= spans[:, 1]).all()
    assert not need.any()


def test_reach_tiles_covers_where_a_tile_lands():
    alpha = np.zeros((64, 64), np.uint8)
    alpha[20:30, 40:50] = 255
    summary = tiles.summarize(alpha, 0.5, left=0, top=0, tile=16)
    reach = tiles.target_tiles(summary, (64, 64), (31.5, 31.5), (31.5, 31.5), (1.0, 20.0, 0.0, 0.0), tile=16)
    # content at x 40..49 moves 10 px right: 50..59 (tiles 3), rows 20..29 (tile 1)
    assert reach[1, 3] and not reach[:, :2].any() and not reach[3].any()
