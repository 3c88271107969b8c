"""The per-frame kernels that OpenCV has no call for, compiled with numba.

For the CPU renderer (`warp_cv`, `tiles`):

* `solve_map`: a layer's backward map at the frame blocks' corners (a small fixed-point
  solve per corner, see `warp_cv.ClipRenderer._solve`);
* `reach_tiles`, `tile_ranges`: the frame tiles a layer can land on (see `tiles`);
* `cell_table`, `classify_blocks`: per frame block, the layer that owns it and the
  layers to composite under the owner, from the footprint of the block's map in
  summed-area tables of each layer's alpha;
* `owner_maps`, `entry_maps`: the atlas maps `cv2.remap` samples with, per block from
  its layer's corners (bilinear);
* `open_entries`, `under_blocks`: dropping the blocks behind an owner that the frame
  already covers, and compositing warped blocks under the frame, a per-pixel decision
  (skip the opaque pixels, copy into the empty ones, blend the few partly covered ones)
  in one pass over packed RGBA words.

As numpy code these would be many small array operations per frame, all holding the
GIL; compiled, they take a fraction of the frame's time and release it, so frames made
by several worker threads proceed in parallel.

Importing this module imports numba, so it is imported only when frames are rendered;
the compiled code is cached on disk (`__pycache__`) after the first run.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _under_word(t, v):  # pragma: no cover - compiled
    """Packed premultiplied RGBA ``v`` under ``t`` (words, alpha in the top byte), rounded."""
    if t >= np.uint32(0xFF000000) or v < np.uint32(0x01000000):
        return t  # opaque already, or nothing to add (premultiplied: its colour is 0 too)
    if t < np.uint32(0x01000000):
        return v  # transparent so far
    room = np.uint32(255) - (t >> np.uint32(24))
    out = np.uint32(0)
    for shift in range(0, 32, 8):
        s = np.uint32(shift)
        add = (((v >> s) & np.uint32(255)) * room + np.uint32(127)) // np.uint32(255)
        out |= min(((t >> s) & np.uint32(255)) + add, np.uint32(255)) << s
    return out


@njit(nogil=True, cache=True, error_model="numpy")
def under_blocks(frame, warped, entries, e0, e1, block_cols, block, pack):  # pragma: no cover - compiled
    """Composite packed warps under frame blocks, in order: for ``e0 <= e < e1``, the
    ``block``-pixel square ``e − e0`` of ``warped`` (row ``(e − e0) // pack``, column
    ``(e − e0) % pack`` of squares) goes under frame block ``entries[e, 0]`` (row-major
    index, ``block_cols`` per row). ``frame`` and ``warped`` hold packed RGBA words
    (uint32, alpha in the top byte)."""
    # (indexed in two dimensions, not through row views: a view per row costs more
    # than the eight pixels it holds)
    for e in range(e0, e1):
        by, bx = entries[e, 0] // block_cols, entries[e, 0] % block_cols
        wy, wx = ((e - e0) // pack) * block, ((e - e0) % pack) * block
        for i in range(block):
            y = by * block + i
            for j in range(block):
                x = bx * block + j
                t = frame[y, x]
                if t >= np.uint32(0xFF000000):
                    continue  # opaque already
                if t < np.uint32(0x01000000):
                    frame[y, x] = warped[wy + i, wx + j]  # transparent so far
                else:
                    frame[y, x] = _under_word(t, warped[wy + i, wx + j])


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _short_of_opaque(frame, y0, x0, block):  # pragma: no cover - compiled
    """Whether the ``block``-pixel square at (y0, x0) of ``frame`` (packed RGBA words)
    has a pixel short of opaque; stops at the first (most open blocks have one early)."""
    for i in range(block):
        for j in range(block):
            if frame[y0 + i, x0 + j] < np.uint32(0xFF000000):
                return True
    return False


@njit(nogil=True, cache=True, error_model="numpy")
def open_entries(frame, entries, e0, e1, block_cols, block):  # pragma: no cover - compiled
    """Keep, in order at the front of rows e0..e1-1 of ``entries``, only those whose frame
    block still has a pixel short of opaque (``frame``: packed RGBA words, alpha in the
    top byte); returns the end of the kept rows. The footprint test that listed them is
    conservative (cells and a sampling margin), and nearer layers composited since may
    have filled the block: a layer under an opaque block adds nothing."""
    kept = e0
    for e in range(e0, e1):
        y0, x0 = (entries[e, 0] // block_cols) * block, (entries[e, 0] % block_cols) * block
        if _short_of_opaque(frame, y0, x0, block):
            entries[kept, 0], entries[kept, 1] = entries[e, 0], entries[e, 1]
            kept += 1
    return kept


@njit(nogil=True, cache=True, error_model="numpy")
def cell_table(alpha, cell, level):  # pragma: no cover - compiled
    """Summed-area table (int32, rows + 1 x columns + 1) over ``cell``-pixel cells of
    ``alpha`` (uint8) counting the cells that hold alpha > 0 (``level`` 0) or alpha <
    255 (``level`` 255); cells past the edge count as transparent."""
    h, w = alpha.shape
    rows, cols = -(-h // cell), -(-w // cell)
    table = np.zeros((rows + 1, cols + 1), np.int32)
    for r in range(rows):
        for c in range(cols):
            y0, x0 = r * cell, c * cell
            hit = level == 255 and (y0 + cell > h or x0 + cell > w)
            for y in range(y0, min(y0 + cell, h)):
                if hit:
                    break
                for x in range(x0, min(x0 + cell, w)):
                    if (alpha[y, x] > 0) if level == 0 else (alpha[y, x] < 255):
                        hit = True
                        break
            table[r + 1, c + 1] = table[r, c + 1] + table[r + 1, c] - table[r, c] + (1 if hit else 0)
    return table


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _cells(table, r0, r1, c0, c1):  # pragma: no cover - compiled
    """Cells counted by ``table`` in rows r0..r1-1, columns c0..c1-1."""
    return table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]


@njit(nogil=True, cache=True, error_model="numpy")
def classify_blocks(grid, reach, per_tile, box, opaque, present, partial, cell, layer, owner, covered, entries, count):  # pragma: no cover - compiled
    """Assign one layer (``layer``; layers come near to far) to the frame blocks it shows on.

    ``grid`` (float32, block rows + 1 x block columns + 1 x 2): the layer's backward map
    at the block corners, in box pixels. Inside a block the map is their bilinear blend,
    so the box pixels a block samples lie in the corners' bounding box, with a pixel
    more on each side for bilinear sampling (two after, safe from rounding).
    ``present`` / ``partial``: the `cell_table` sums of the layer's alpha (box = (width,
    height)).

    A block whose footprint holds no alpha is left alone. Otherwise the layer becomes the
    block's ``owner`` (-1: none yet) or, behind the owner, an ``entries`` row (block
    index, layer) to composite under it. A footprint inside the box and fully opaque
    (any footprint, for the ``opaque`` layer: its edges are replicated) marks the block
    ``covered``; farther layers skip it. Only blocks of the tiles ``reach`` marks
    (``per_tile`` blocks a side) are looked at. Returns the new number of entries."""
    rows, cols = owner.shape
    w, h = box
    for by in range(rows):
        for bx in range(cols):
            if covered[by, bx] or not reach[by // per_tile, bx // per_tile]:
                continue
            full = opaque
            if not opaque:
                # scalars, not views of the corners (a view costs more than the test)
                ax, ay, bx_, by_ = grid[by, bx, 0], grid[by, bx, 1], grid[by, bx + 1, 0], grid[by, bx + 1, 1]
                cx, cy = grid[by + 1, bx, 0], grid[by + 1, bx, 1]
                dx, dy = grid[by + 1, bx + 1, 0], grid[by + 1, bx + 1, 1]
                x0 = int(np.floor(min(min(ax, bx_), min(cx, dx)))) - 1
                x1 = int(np.floor(max(max(ax, bx_), max(cx, dx)))) + 2
                y0 = int(np.floor(min(min(ay, by_), min(cy, dy)))) - 1
                y1 = int(np.floor(max(max(ay, by_), max(cy, dy)))) + 2
                if x1 < 0 or y1 < 0 or x0 > w - 1 or y0 > h - 1:
                    continue
                c0, c1 = max(x0, 0) // cell, min(x1, w - 1) // cell + 1
                r0, r1 = max(y0, 0) // cell, min(y1, h - 1) // cell + 1
                if _cells(present, r0, r1, c0, c1) == 0:
                    continue
                inside = x0 >= 0 and y0 >= 0 and x1 <= w - 1 and y1 <= h - 1
                full = inside and _cells(partial, r0, r1, c0, c1) == 0
            if owner[by, bx] < 0:
                owner[by, bx] = layer
            else:
                entries[count, 0] = by * cols + bx
                entries[count, 1] = layer
                count += 1
            if full:
                covered[by, bx] = True
    return count


@njit(nogil=True, cache=True, error_model="numpy", fastmath=True, inline="always")
def _block_map(grids, k, by, bx, block, offsets, bounds, map_x, map_y, row0, col0):  # pragma: no cover - compiled
    """The map of frame block (by, bx) into ``map_x``/``map_y`` at (row0, col0): the
    bilinear blend of layer ``k``'s corners in ``grids[k]``, plus its atlas offset,
    clamped to its bounds."""
    # scalars and two-dimensional indexing throughout: views of the corners and rows
    # cost more than the block's 64 pixels (measured: the maps took twice as long)
    x_lo, x_hi, y_lo, y_hi = bounds[k, 0], bounds[k, 1], bounds[k, 2], bounds[k, 3]
    ox, oy = offsets[k, 0], offsets[k, 1]
    a0, a1, b0, b1 = grids[k, by, bx, 0], grids[k, by, bx, 1], grids[k, by, bx + 1, 0], grids[k, by, bx + 1, 1]
    c0, c1 = grids[k, by + 1, bx, 0], grids[k, by + 1, bx, 1]
    d0, d1 = grids[k, by + 1, bx + 1, 0], grids[k, by + 1, bx + 1, 1]
    step = np.float32(1.0 / block)
    for i in range(block):
        t = (np.float32(i) + np.float32(0.5)) * step
        lx, ly = a0 + (c0 - a0) * t + ox, a1 + (c1 - a1) * t + oy
        dx, dy = (b0 + (d0 - b0) * t + ox - lx), (b1 + (d1 - b1) * t + oy - ly)
        for j in range(block):
            u = (np.float32(j) + np.float32(0.5)) * step
            map_x[row0 + i, col0 + j] = min(max(lx + dx * u, x_lo), x_hi)
            map_y[row0 + i, col0 + j] = min(max(ly + dy * u, y_lo), y_hi)


@njit(nogil=True, cache=True, error_model="numpy")
def owner_maps(grids, owner, by0, by1, block, offsets, bounds, map_x, map_y):  # pragma: no cover - compiled
    """Atlas maps (float32 x, y) of block rows by0..by1-1, each block from its owner's
    map (``grids[owner]``, moved by the layer's atlas ``offsets`` and clamped to its
    ``bounds``: x lo, x hi, y lo, y hi)."""
    for by in range(by0, by1):
        for bx in range(owner.shape[1]):
            k = owner[by, bx]
            _block_map(grids, k, by, bx, block, offsets, bounds, map_x, map_y, (by - by0) * block, bx * block)


@njit(nogil=True, cache=True, error_model="numpy")
def entry_maps(grids, entries, e0, e1, block_cols, block, pack, offsets, bounds, map_x, map_y):  # pragma: no cover - compiled
    """Atlas maps of entries e0..e1-1 packed as `under_blocks` reads them: ``pack``
    blocks a row."""
    for e in range(e0, e1):
        by, bx, k = entries[e, 0] // block_cols, entries[e, 0] % block_cols, entries[e, 1]
        row0, col0 = ((e - e0) // pack) * block, ((e - e0) % pack) * block
        _block_map(grids, k, by, bx, block, offsets, bounds, map_x, map_y, row0, col0)


@njit(nogil=True, cache=True, error_model="numpy", fastmath=True, inline="always")
def disparity_at(fields, x, y, step):  # pragma: no cover - compiled
    """Bilinear sample of block means ``fields`` at box pixel (x, y), edges replicated
    (block (i, j) is centred on box pixel (step·j + (step − 1)/2, step·i + …))."""
    centre = (step - 1) / 2.0
    u = min(max((x - centre) / step, 0.0), fields.shape[1] - 1.0)
    v = min(max((y - centre) / step, 0.0), fields.shape[0] - 1.0)
    j, i = min(int(u), max(fields.shape[1] - 2, 0)), min(int(v), max(fields.shape[0] - 2, 0))
    fu, fv = u - j, v - i
    j1, i1 = min(j + 1, fields.shape[1] - 1), min(i + 1, fields.shape[0] - 1)
    top = fields[i, j] * (1.0 - fu) + fields[i, j1] * fu
    bottom = fields[i1, j] * (1.0 - fu) + fields[i1, j1] * fu
    return top * (1.0 - fv) + bottom * fv


@njit(nogil=True, cache=True, error_model="numpy")
def corner_spans(reach, per_tile, covered, spans, need):  # pragma: no cover - compiled
    """For each row of block corners, the span of columns (start, end) that the blocks of
    the tiles ``reach`` marks (``per_tile`` blocks a side), less the ``covered`` ones,
    have corners in (start >= end where none), and in ``need`` (bool, corner rows x
    corner columns) those corners themselves: a layer spread over the frame (trees
    across a forest) spans whole rows but needs few of their corners. Returns whether
    there is any such block."""
    rows, cols = covered.shape
    spans[:, 0], spans[:, 1] = cols + 1, 0
    need[:, :] = False
    found = False
    for by in range(rows):
        for bx in range(cols):
            if covered[by, bx] or not reach[by // per_tile, bx // per_tile]:
                continue
            found = True
            need[by, bx] = need[by, bx + 1] = need[by + 1, bx] = need[by + 1, bx + 1] = True
            for r in range(by, by + 2):
                spans[r, 0] = min(spans[r, 0], bx)
                spans[r, 1] = max(spans[r, 1], bx + 2)
    return found


@njit(nogil=True, cache=True, error_model="numpy", fastmath=True)
def solve_map(fields, step, grid_x, grid_y, spans, need, terms, origin, grid):  # pragma: no cover - compiled
    """Fill ``grid[i, j]`` (float32 x, y in box pixels) for ``spans[i, 0] <= j <
    spans[i, 1]`` in every row i where ``need[i, j]``: grid point (``grid_x[j]``, ``grid_y[i]``, frame pixels
    from the frame centre) sees box pixel ``P(d) = o + q − d·(K + zoom·q)``, ``q`` the
    point over the scale, ``o`` = ``origin`` (the canvas centre in box pixels),
    where ``d = D(P(d))``: two fixed-point steps from ``D(o + q)`` and Aitken's
    extrapolation, clamped to the range the steps bracket."""
    s, kx, ky, z = terms
    n = grid_x.shape[0]
    # a row at a time, each step over the row's span: the three samples of one point
    # depend on each other, those of neighbouring points do not
    px, ax = np.empty(n), np.empty(n)
    d0, d1 = np.empty(n), np.empty(n)
    for j in range(n):
        qx = grid_x[j] / s
        px[j], ax[j] = qx + origin[0], kx + z * qx
    for i in range(spans.shape[0]):
        j0, j1 = spans[i, 0], min(spans[i, 1], n)
        if j1 <= j0:
            continue
        qy = grid_y[i] / s
        py, ay = qy + origin[1], ky + z * qy
        row = need[i]
        for j in range(j0, j1):
            if row[j]:
                d0[j] = disparity_at(fields, px[j], py, step)
        for j in range(j0, j1):
            if row[j]:
                d1[j] = disparity_at(fields, px[j] - d0[j] * ax[j], py - d0[j] * ay, step)
        for j in range(j0, j1):
            if not row[j]:
                continue
            a, b = d0[j], d1[j]
            c = disparity_at(fields, px[j] - b * ax[j], py - b * ay, step)
            first, second = b - a, c - b
            bend = second - first
            d = c - second * second / bend if abs(bend) > 1e-6 else c
            d = min(max(d, min(a, c) - abs(first)), max(a, c) + abs(first))
            grid[i, j, 0] = px[j] - d * ax[j]
            grid[i, j, 1] = py - d * ay


@njit(nogil=True, cache=True, error_model="numpy")
def tile_ranges(alpha, lo, hi, step, tile, present, d_lo, d_hi):  # pragma: no cover - compiled
    """Per ``tile``-pixel tile of a layer box: whether it holds alpha > 0 (``present``),
    and the lowest ``lo`` / highest ``hi`` (one value per ``step``-pixel block) over its
    pixels that do. The box is scanned in cells of the smaller of the two sides (the
    larger must be a multiple of it), each cell left at its first such pixel."""
    h, w = alpha.shape
    cell = min(step, tile)
    for y0 in range(0, h, cell):
        r, by = y0 // tile, y0 // step
        for x0 in range(0, w, cell):
            hit = False
            for y in range(y0, min(y0 + cell, h)):
                row = alpha[y]
                for x in range(x0, min(x0 + cell, w)):
                    if row[x] > 0:
                        hit = True
                        break
                if hit:
                    break
            if hit:
                c, bx = x0 // tile, x0 // step
                present[r, c] = True
                d_lo[r, c] = min(d_lo[r, c], lo[by, bx])
                d_hi[r, c] = max(d_hi[r, c], hi[by, bx])


@njit(nogil=True, cache=True, error_model="numpy")
def reach_tiles(x0, y0, x1, y1, d_lo, d_hi, frame_size, frame_centre, canvas_centre, terms, tile, margin, reach):  # pragma: no cover - compiled
    """Mark in ``reach`` (bool rows x cols) the frame tiles that canvas tiles
    (``x0``…``d_hi``, a `tiles.TileSummary`) can land on: each is mapped forward at
    both ends of its disparity range, a pixel more on every side for bilinear
    sampling, and the bounding box of the corners, ``margin`` frame pixels wider on
    every side, is marked."""
    s, kx, ky, z = terms
    fx, fy = frame_centre
    cx, cy = canvas_centre
    rows, cols = reach.shape
    width, height = frame_size
    for k in range(x0.shape[0]):
        # the corners' positions at both ends of the disparity range (a pixel more on
        # every side): the map is affine in position for a fixed disparity
        m_lo, m_hi = s / (1.0 - z * d_lo[k]), s / (1.0 - z * d_hi[k])
        a_lo, a_hi = fx + m_lo * (kx * d_lo[k] - cx), fx + m_hi * (kx * d_hi[k] - cx)
        b_lo, b_hi = fy + m_lo * (ky * d_lo[k] - cy), fy + m_hi * (ky * d_hi[k] - cy)
        left, right, top, bottom = x0[k] - 1.0, x1[k] + 1.0, y0[k] - 1.0, y1[k] + 1.0
        lo_x = min(a_lo + m_lo * left, a_hi + m_hi * left)
        hi_x = max(a_lo + m_lo * right, a_hi + m_hi * right)
        lo_y = min(b_lo + m_lo * top, b_hi + m_hi * top)
        hi_y = max(b_lo + m_lo * bottom, b_hi + m_hi * bottom)
        lo_x, hi_x, lo_y, hi_y = lo_x - margin, hi_x + margin, lo_y - margin, hi_y + margin
        if hi_x < 0 or lo_x > width - 1 or hi_y < 0 or lo_y > height - 1:
            continue
        c0 = min(max(int(np.floor(lo_x / tile)), 0), cols - 1)
        c1 = min(max(int(np.floor(hi_x / tile)), 0), cols - 1)
        r0 = min(max(int(np.floor(lo_y / tile)), 0), rows - 1)
        r1 = min(max(int(np.floor(hi_y / tile)), 0), rows - 1)
        for r in range(r0, r1 + 1):
            reach[r, c0 : c1 + 1] = True
