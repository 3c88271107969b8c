"""The CPU renderer's per-frame kernels that OpenCV has no call for, compiled with numba.

* `under`: compositing a warped layer under what nearer layers drew is a per-pixel
  decision (skip the opaque pixels, copy into the empty ones, blend the few partly
  covered ones along silhouettes). Written with OpenCV/numpy it takes a mask, a masked
  copy and a gather of the partly covered pixels, around ten passes and calls per
  rectangle; compiled, it is a single pass that mostly reads one word per pixel.
* `opaque_tiles`: which frame tiles are fully covered so far (farther layers skip them).
* `solve_map`: a layer's backward map on the coarse grid (a small fixed-point solve per
  grid point, see `warp_cv.ClipRenderer._map_grid`).
* `reach_tiles`: the frame tiles a layer can land on (see `tiles.target_tiles`).

As numpy code the last three are many small array operations per frame, all holding the
GIL; compiled, they are a fraction of a millisecond and release it, so frames rendered
by several worker threads proceed in parallel.

Importing this module imports numba, so the renderer imports it only when it renders
(`warp_cv`, `tiles`); the compiled code is cached on disk (`__pycache__`) after the
first run.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, error_model="numpy")
def under_packed(target, layer, fresh, tile):  # pragma: no cover - compiled
    """`under` on packed RGBA words (uint32 rows, alpha in the top byte)."""
    for y in range(target.shape[0]):
        into, add, empty = target[y], layer[y], fresh[y // tile]
        for c in range(empty.shape[0]):
            x0, x1 = c * tile, min((c + 1) * tile, into.shape[0])
            if empty[c]:  # nothing drawn here yet (the pixels hold no frame content)
                into[x0:x1] = add[x0:x1]
                continue
            for x in range(x0, x1):
                t = into[x]
                if t >= np.uint32(0xFF000000):
                    continue  # opaque already
                v = add[x]
                if v < np.uint32(0x01000000):
                    continue  # nothing to add (premultiplied: its colour is 0 too)
                if t < np.uint32(0x01000000):
                    into[x] = v  # transparent so far
                    continue
                room = np.uint32(255) - (t >> np.uint32(24))
                out = np.uint32(0)
                for shift in range(0, 32, 8):
                    s = np.uint32(shift)
                    add_c = (((v >> s) & np.uint32(255)) * room + np.uint32(127)) // np.uint32(255)
                    out |= min(((t >> s) & np.uint32(255)) + add_c, np.uint32(255)) << s
                into[x] = out


def under(target, layer, fresh, tile):
    """Premultiplied ``layer`` (uint8 HxWx4 RGBA) composited under ``target`` (same
    shape, rows may be strided) in place: ``target += layer · (255 − α_target) / 255``,
    rounded. ``fresh`` (bool, one per ``tile``-pixel tile of the rectangle) marks tiles
    nothing was drawn on yet: ``target`` holds no content there and takes ``layer`` as
    it is. Pixels are handled as packed 32-bit words (alpha in the top byte)."""
    under_packed(target.view(np.uint32)[..., 0], layer.view(np.uint32)[..., 0], fresh, tile)


@njit(nogil=True, cache=True, error_model="numpy")
def opaque_tiles(frame, size, tile, candidates, opaque):  # pragma: no cover - compiled
    """Set ``opaque[r, c]`` where every pixel of tile (r, c) of ``frame`` (uint8
    HxWx4, at least ``size`` = (width, height)) inside the frame has alpha 255, for
    the tiles ``candidates`` marks; a tile is left at the first pixel that is not."""
    width, height = size
    rows, cols = candidates.shape
    for r in range(rows):
        for c in range(cols):
            if not candidates[r, c]:
                continue
            full = True
            for y in range(r * tile, min((r + 1) * tile, height)):
                for x in range(c * tile, min((c + 1) * tile, width)):
                    if frame[y, x, 3] != 255:
                        full = False
                        break
                if not full:
                    break
            opaque[r, c] = full


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


@njit(nogil=True, cache=True, error_model="numpy", fastmath=True)
def solve_map(fields, step, grid_x, grid_y, rows, cols, terms, origin, grid):  # pragma: no cover - compiled
    """Fill ``grid[i, j]`` (float32 x, y in box pixels) for the rows i that ``rows``
    (bool, one per grid row) marks and j in ``cols`` = (j0, j1): grid point (``grid_x[j]``, ``grid_y[i]``, frame pixels
    from the frame centre) sees box pixel ``P(d) = o + q − d·(K + zoom·q)``, ``q`` the
    point over the scale, ``o`` = ``origin`` (the canvas centre in box pixels),
    where ``d = D(P(d))``: two fixed-point steps from ``D(o + q)`` and Aitken's
    extrapolation, clamped to the range the steps bracket."""
    s, kx, ky, z = terms
    j0, j1 = cols
    # a row at a time, each step over the whole row: the three samples of one point
    # depend on each other, those of neighbouring points do not
    px, ax = np.empty(j1 - j0), np.empty(j1 - j0)
    d0, d1 = np.empty(j1 - j0), np.empty(j1 - j0)
    for j in range(j0, j1):
        qx = grid_x[j] / s
        px[j - j0], ax[j - j0] = qx + origin[0], kx + z * qx
    for i in range(rows.shape[0]):
        if not rows[i]:
            continue
        qy = grid_y[i] / s
        py, ay = qy + origin[1], ky + z * qy
        for k in range(j1 - j0):
            d0[k] = disparity_at(fields, px[k], py, step)
        for k in range(j1 - j0):
            d1[k] = disparity_at(fields, px[k] - d0[k] * ax[k], py - d0[k] * ay, step)
        for k in range(j1 - j0):
            a, b = d0[k], d1[k]
            c = disparity_at(fields, px[k] - b * ax[k], py - b * ay, step)
            first, second = b - a, c - b
            bend = second - first
            d = c - second * second / bend if abs(bend) > 1e-6 else c
            d = min(max(d, min(a, c) - abs(first)), max(a, c) + abs(first))
            grid[i, j0 + k, 0] = px[k] - d * ax[k]
            grid[i, j0 + k, 1] = py - d * ay


@njit(nogil=True, cache=True, error_model="numpy")
def reach_tiles(x0, y0, x1, y1, d_lo, d_hi, frame_size, frame_centre, canvas_centre, terms, tile, reach):  # pragma: no cover - compiled
    """Mark in ``reach`` (bool rows x cols) the frame tiles that canvas tiles
    (``x0``…``d_hi``, a `tiles.TileSummary`) can land on: each is mapped forward at
    both ends of its disparity range, a pixel more on every side for bilinear
    sampling, and the bounding box of the corners is marked."""
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
        if hi_x < 0 or lo_x > width - 1 or hi_y < 0 or lo_y > height - 1:
            continue
        c0 = min(max(int(np.floor(lo_x / tile)), 0), cols - 1)
        c1 = min(max(int(np.floor(hi_x / tile)), 0), cols - 1)
        r0 = min(max(int(np.floor(lo_y / tile)), 0), rows - 1)
        r1 = min(max(int(np.floor(hi_y / tile)), 0), rows - 1)
        for r in range(r0, r1 + 1):
            reach[r, c0 : c1 + 1] = True
