"""The per-frame work on the CPU: warp each layer and composite, with OpenCV.

Per frame and layer, near to far:

1. `tiles.target_tiles` marks the frame tiles the layer can reach; tiles already opaque
   are dropped, and the rest are cut into rectangles (remembered per layer: neighbouring
   frames often reach the same tiles), each worked in bands of about `STRIP_PIXELS`.
2. The layer's backward map is computed on a `layers.FIELD_STEP`-pixel grid over the
   frame (`kernels.solve_map`): grid point ``p'`` with ``q = (p' − c_f)/S`` sees the
   canvas at ``P = c + q − d·(K + zoom·q)`` (`parallax_pipeline.engine.geometry`), where
   the disparity ``d = D(P)`` is found by two fixed-point steps and Aitken's
   extrapolation (exact for planar layers). Inside a layer the disparity is smooth, so
   the map is too, and one bilinear upsampling (`cv2.resize` by the grid step, exact on
   the grid) gives it at every pixel of a band.
3. `cv2.remap` samples the layer's premultiplied RGBA; a layer of constant disparity is
   one `cv2.warpAffine` instead.
4. Where nothing was drawn in a band the warp is written straight into the frame;
   elsewhere it goes *under* what nearer layers drew (`kernels.under`: copied where they
   left the frame transparent, blended ``out += layer·(1 − alpha_out)`` on the partly
   covered rim pixels).

Each frame pixel is thus warped about once, plus the edges; the per-pixel arithmetic is
one map upsampling, one remap and at most one compositing pass. Frames of one clip may
be rendered in several threads at once (the warp buffer is per thread).
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from parallax_pipeline.engine import layers as layering
from parallax_pipeline.engine import tiles
from parallax_pipeline.engine.camera import CameraPose
from parallax_pipeline.engine.geometry import Geometry, valid_pose

STRIP_PIXELS = 128 * 1024
"""Pixels warped and composited at a time (a band of whole tiles across a rectangle):
the band, its map and its warp fit in a core's L2 cache."""
RECTANGLES_KEPT = 512
"""Work lists (`tiles.rectangles`) remembered per clip, by layer and reached tiles."""
OPACITY_EVERY = 0.3
"""Take the tiles' opacity again once this fraction of the frame was drawn since the
last time (`kernels.opaque_tiles`; it lets farther layers skip covered tiles)."""


class ClipRenderer:
    """Renders frames of one layered scene with OpenCV (the CPU path)."""

    def __init__(self, scene: layering.LayeredScene, geometry: Geometry):
        self.scene = scene
        self.geometry = geometry
        from parallax_pipeline.engine import kernels  # numba: imported when rendering

        self._kernels = kernels
        self._rectangle_cache: dict[tuple[int, bytes], list] = {}
        self._scratch = threading.local()  # per rendering thread: its warp buffer
        step = layering.FIELD_STEP
        w, h = geometry.frame_width, geometry.frame_height
        fx, fy = geometry.frame_centre
        # the map grid: point j sits on frame pixel step·j − step/2 − 1/2, so that
        # cv2.resize by exactly `step` lands point j0 + 1 on pixel step·j0 + step/2 - 1/2
        # and a rectangle starting at a multiple of `step` is the resized block from its
        # pixel `step` on (see `_warp`); two spare points after the frame
        offset = step / 2.0 + 0.5
        self._grid_x = (np.arange(math.ceil(w / step) + 3) * step - offset - fx).astype(np.float32)
        self._grid_y = (np.arange(math.ceil(h / step) + 3) * step - offset - fy).astype(np.float32)
        self._tiles = [
            tiles.summarize(
                cv2.extractChannel(layer.rgba, 3),
                layer.constant if layer.constant is not None else layer.fields,
                layer.x0,
                layer.y0,
                step=step,
            )
            for layer in scene.layers
        ]

    # -- maps

    def _map_grid(self, layer: layering.Layer, terms, reach: np.ndarray) -> np.ndarray:
        """The layer's backward map (box pixel coordinates, float32 x, y) at the grid.

        Grid point p' (``q = (p' − c_f)/S``) sees the canvas at ``P(d) = c + q − d·A``,
        ``A = K + zoom·q``, where ``d`` solves ``d = D(P(d))``. Two fixed-point steps
        from ``d0 = D(c + q)`` and Aitken's extrapolation give it exactly for a planar
        layer and closely for any smooth one, creases included (they sample ``D`` itself,
        not a smoothed gradient). Only the grid points the tiles in ``reach`` use are
        computed."""
        step = layering.FIELD_STEP
        per_tile = tiles.TILE // step
        (ccx, ccy) = self.geometry.canvas_centre
        # the grid rows the reached tile rows use: their own and, for the bilinear
        # upsampling, the next ones (a rectangle has reached tiles in each of its rows)
        tile_rows = np.repeat(reach.any(axis=1), per_tile)
        rows = np.zeros(self._grid_y.size, bool)
        for shift in range(4):
            part = tile_rows[: rows.size - shift]
            rows[shift : shift + part.size] |= part
        cols_on = np.flatnonzero(reach.any(axis=0))
        cols = (int(cols_on[0]) * per_tile, min(int(cols_on[-1] + 1) * per_tile + 3, self._grid_x.size))
        grid = np.zeros((self._grid_y.size, self._grid_x.size, 2), np.float32)
        origin = (float(ccx - layer.x0), float(ccy - layer.y0))
        self._kernels.solve_map(
            layer.fields, step, self._grid_x, self._grid_y, rows, cols, tuple(map(float, terms)), origin, grid
        )
        return grid

    def _warp(self, layer: layering.Layer, roi, terms, grid: np.ndarray | None, dst=None) -> np.ndarray:
        """The layer warped onto the frame rectangle ``roi`` (premultiplied RGBA)."""
        g = self.geometry
        rx0, ry0, rx1, ry1 = roi
        size = (rx1 - rx0, ry1 - ry0)
        border = cv2.BORDER_REPLICATE if layer.opaque else cv2.BORDER_CONSTANT
        if layer.constant is not None:
            s, kx, ky, z = terms
            (fx, fy), (ccx, ccy) = g.frame_centre, g.canvas_centre
            d = layer.constant
            a = (1.0 - z * d) / s  # canvas px per frame px for this disparity
            bx = ccx + a * (rx0 - fx) - kx * d - layer.x0
            by = ccy + a * (ry0 - fy) - ky * d - layer.y0
            return cv2.warpAffine(
                layer.rgba,
                np.float32([[a, 0, bx], [0, a, by]]),
                size,
                dst=dst,
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=border,
                borderValue=(0, 0, 0, 0),
            )
        step = layering.FIELD_STEP
        i0, j0 = ry0 // step, rx0 // step
        rows, cols = (size[1] + step - 1) // step + 2, (size[0] + step - 1) // step + 2
        # cv2.resize maps output pixel x to input (x + 1/2)/step − 1/2: with the grid's
        # offset, output pixel step + x is exactly frame pixel rx0 + x
        full = cv2.resize(grid[i0 : i0 + rows, j0 : j0 + cols], (cols * step, rows * step), interpolation=cv2.INTER_LINEAR)
        full = full[step : step + size[1], step : step + size[0]]
        return cv2.remap(layer.rgba, full, None, cv2.INTER_LINEAR, dst=dst, borderMode=border, borderValue=(0, 0, 0, 0))

    # -- frames

    def render_rgba(self, pose: CameraPose) -> np.ndarray:
        """The frame for ``pose`` as RGBA uint8, opaque: a view of the frame's size into
        a buffer of whole tiles (rows are strided; the encoder takes it as it is)."""
        valid_pose(pose)
        g = self.geometry
        terms = g.terms(pose)
        w, h = g.frame_width, g.frame_height
        t = tiles.TILE
        rows, cols = -(-h // t), -(-w // t)
        # whole tiles (the frame is the top-left part); every tile is written before it
        # is read, so the buffer needs no clearing
        padded = np.empty((rows * t, cols * t, 4), np.uint8)
        warped = self._warp_buffer(rows * t, cols * t)
        out = padded[:h, :w]
        drawn = np.zeros((rows, cols), bool)
        opaque = np.zeros((rows, cols), bool)
        fresh_area = 0  # tiles drawn since the opacity was last taken
        layers = self.scene.layers
        for index in range(len(layers) - 1, -1, -1):
            layer, summary = layers[index], self._tiles[index]
            if fresh_area >= OPACITY_EVERY * rows * cols or (layer.opaque and fresh_area):
                # tiles nearer layers cover completely need nothing from farther ones
                self._kernels.opaque_tiles(padded, (w, h), t, drawn & ~opaque, opaque)
                fresh_area = 0
            if layer.opaque:
                reach = ~opaque
            else:
                reach = tiles.target_tiles(summary, (w, h), g.frame_centre, g.canvas_centre, terms)
                reach &= ~opaque
            if not reach.any():
                continue
            fresh_area += int(reach.sum())
            grid = self._map_grid(layer, terms, reach) if layer.constant is None else None
            for r0, r1, c0, c1 in self._rectangles(index, reach):
                # in bands of about STRIP_PIXELS, so that map, warp and frame stay in the
                # cache (whole tiles, and never so thin that the calls cost more than the pixels)
                band_rows = t * max(1, STRIP_PIXELS // ((c1 - c0) * t * t))
                for y0 in range(r0 * t, min(r1 * t, h), band_rows):
                    roi = (c0 * t, y0, min(c1 * t, w), min(y0 + band_rows, r1 * t, h))
                    target = out[roi[1] : roi[3], roi[0] : roi[2]]
                    band = drawn[y0 // t : -(-roi[3] // t), c0:c1]
                    if not band.any():  # nothing drawn here yet: warp straight into the frame
                        self._warp(layer, roi, terms, grid, dst=target)
                    else:
                        layer_part = warped[: target.shape[0], : target.shape[1]]
                        self._warp(layer, roi, terms, grid, dst=layer_part)
                        self._kernels.under(target, layer_part, ~band, t)
            drawn |= reach
        return out

    def _rectangles(self, index: int, reach: np.ndarray) -> list[tuple[int, int, int, int]]:
        """`tiles.rectangles` of layer ``index``'s tiles, remembered: neighbouring frames
        often reach the same tiles."""
        key = (index, reach.tobytes())
        found = self._rectangle_cache.get(key)
        if found is None:
            if len(self._rectangle_cache) >= RECTANGLES_KEPT:
                self._rectangle_cache.clear()
            found = self._rectangle_cache[key] = tiles.rectangles(reach, slack=tiles.SLACK)
        return found

    def _warp_buffer(self, height: int, width: int) -> np.ndarray:
        """This thread's buffer for warps composited under the frame (RGBA, ``height`` x
        ``width``), made once: a fresh array per warp would cost page faults."""
        buffer = getattr(self._scratch, "warped", None)
        if buffer is None or buffer.shape[:2] != (height, width):
            buffer = self._scratch.warped = np.empty((height, width, 4), np.uint8)
        return buffer

    def render(self, pose: CameraPose) -> np.ndarray:
        """The frame for ``pose``: uint8 HxWx3 RGB of the frame's size."""
        return cv2.cvtColor(self.render_rgba(pose), cv2.COLOR_RGBA2RGB)

