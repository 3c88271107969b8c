"""A slow, obviously-correct renderer of a layered scene, and checks of rendered frames.

The clip renderers (`warp_cv`, `warp_torch`) take many short cuts for speed: 8-pixel
blocks with one owner layer each, corner maps blended inside blocks, cell tables that
decide which layers a block needs. `render_reference` takes none: for every frame pixel
and every layer it solves the layer's backward map to convergence, samples the layer
bilinearly and composites all layers far to near. Tests hold the fast renderers to it.

`forward_warp` is the ground truth that needs no layers at all: every canvas pixel is
sent forward to where the pose puts it and the nearest one wins (a z-buffer), so a
pixel of the nearest visible surface must show that surface whatever the layers did.
`uncovered_surface` and `grid_contrast` turn these into measures a test can bound.
"""

from __future__ import annotations

import cv2
import numpy as np

from parallax_pipeline.engine.parallax import layers as layering
from parallax_pipeline.engine.parallax.camera import CameraPose
from parallax_pipeline.engine.parallax.geometry import Geometry

SOLVE_STEPS = 16
"""Fixed-point steps of the per-pixel solve d = D(P(d)) (the clip renderer takes two and
Aitken's extrapolation); inside a layer the disparity is smooth, so they converge."""


def _field_sampler(layer: layering.Layer):
    """Disparity of ``layer`` at box pixels (x, y) as the clip renderers read it: the
    bilinear blend of its `FIELD_STEP` block means, edges replicated."""
    if layer.fields is None:
        return lambda x, y: np.full(x.shape, layer.constant, np.float32)
    step = layering.FIELD_STEP
    centre = (step - 1) / 2.0
    fields = layer.fields

    def sample(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u = np.clip((x - centre) / step, 0.0, fields.shape[1] - 1.0, dtype=np.float32)
        v = np.clip((y - centre) / step, 0.0, fields.shape[0] - 1.0, dtype=np.float32)
        return cv2.remap(fields, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return sample


def layer_maps(layer: layering.Layer, geometry: Geometry, pose: CameraPose) -> tuple[np.ndarray, np.ndarray]:
    """Exact backward map (box pixels x, y, float32 frame-sized) of one layer: frame pixel
    p' sees box pixel P(d) = c + q − d·(K + zoom·q), q = (p' − c_f)/S, with d = D(P(d))
    solved per pixel by `SOLVE_STEPS` fixed-point steps."""
    s, kx, ky, z = geometry.terms(pose)
    fx, fy = geometry.frame_centre
    cx, cy = geometry.canvas_centre
    w, h = geometry.frame_width, geometry.frame_height
    qx = ((np.arange(w) - fx) / s).astype(np.float32)[None, :].repeat(h, 0)
    qy = ((np.arange(h) - fy) / s).astype(np.float32)[:, None].repeat(w, 1)
    px, py = np.float32(cx - layer.x0) + qx, np.float32(cy - layer.y0) + qy
    ax, ay = np.float32(kx) + np.float32(z) * qx, np.float32(ky) + np.float32(z) * qy
    sample = _field_sampler(layer)
    d = sample(px, py)
    for _ in range(SOLVE_STEPS):
        d = sample(px - d * ax, py - d * ay)
    return px - d * ax, py - d * ay


def render_reference(scene: layering.LayeredScene, geometry: Geometry, pose: CameraPose) -> np.ndarray:
    """The frame for ``pose`` (uint8 RGB): every layer warped per pixel by its exact map,
    sampled bilinearly (outside its box: transparent, or the edge replicated for the
    opaque farthest layer) and composited near over far, premultiplied."""
    w, h = geometry.frame_width, geometry.frame_height
    colour = np.zeros((h, w, 3), np.float64)
    cover = np.zeros((h, w), np.float64)
    for layer in reversed(scene.layers):  # near to far: each one goes under the rest
        map_x, map_y = layer_maps(layer, geometry, pose)
        border = cv2.BORDER_REPLICATE if layer.opaque else cv2.BORDER_CONSTANT
        warped = cv2.remap(layer.rgba, map_x, map_y, cv2.INTER_LINEAR, borderMode=border, borderValue=(0, 0, 0, 0))
        room = 1.0 - cover
        colour += warped[:, :, :3] * room[:, :, None]
        cover += warped[:, :, 3] / 255.0 * room
    return np.clip(np.round(colour), 0, 255).astype(np.uint8)


def forward_warp(
    canvas: np.ndarray, disparity: np.ndarray, known: np.ndarray, geometry: Geometry, pose: CameraPose
) -> tuple[np.ndarray, np.ndarray]:
    """The canvas seen from ``pose`` by sending every known canvas pixel forward (no
    layers): p' = c_f + S·(P − c + K·d)/(1 − zoom·d), each splatted onto the 2x2 frame
    pixels around where it lands, the nearest (largest d) winning. Returns the colour
    (uint8 RGB) and the winning disparity (float32, −1 where nothing landed). The
    splat widens every surface by up to a pixel: compare only inside surfaces."""
    s, kx, ky, z = geometry.terms(pose)
    fx, fy = geometry.frame_centre
    cx, cy = geometry.canvas_centre
    w, h = geometry.frame_width, geometry.frame_height
    ys, xs = np.nonzero(known)
    d = disparity[ys, xs].astype(np.float64)
    m = s / (1.0 - z * d)
    tx = fx + m * (xs - cx + kx * d)
    ty = fy + m * (ys - cy + ky * d)
    source = ys * canvas.shape[1] + xs
    best = np.full(h * w, -1.0)
    splats = []
    for jx in (np.floor(tx), np.floor(tx) + 1):
        for jy in (np.floor(ty), np.floor(ty) + 1):
            jx_i, jy_i = jx.astype(np.int64), jy.astype(np.int64)
            ok = (jx_i >= 0) & (jx_i < w) & (jy_i >= 0) & (jy_i < h)
            target = jy_i[ok] * w + jx_i[ok]
            np.maximum.at(best, target, d[ok])
            splats.append((target, d[ok], source[ok]))
    owner = np.full(h * w, -1, np.int64)
    for target, dd, src in splats:
        win = dd >= best[target]
        owner[target[win]] = src[win]
    image = np.zeros((h * w, 3), np.uint8)
    hit = owner >= 0
    image[hit] = canvas.reshape(-1, 3)[owner[hit]]
    return image.reshape(h, w, 3), best.reshape(h, w).astype(np.float32)


def uncovered_surface(
    frame: np.ndarray, truth: np.ndarray, truth_d: np.ndarray, edge: float, tolerance: float = 24.0
) -> np.ndarray:
    """Pixels inside the nearest visible surface (``truth``/``truth_d`` from
    `forward_warp`) where ``frame`` does not show it: bool HxW.

    Inside a surface means: something landed on the pixel and on its 3x3 neighbours,
    and their disparities span less than ``edge`` (the depth edge of the clip, so rims
    and one-pixel splat widening are left out: the surface eroded by a pixel). The
    frame shows the surface there when each of its channels lies within the range of
    the truth's 3x3 neighbourhood widened by ``tolerance`` (sub-pixel sampling and
    bilinear blending stay inside it; a different surface does not)."""
    square = np.ones((3, 3), np.uint8)
    landed = cv2.erode((truth_d >= 0).astype(np.uint8), square).astype(bool)
    spread = cv2.dilate(truth_d, square) - cv2.erode(truth_d, square)
    inside = landed & (spread < edge)
    lo = cv2.erode(truth, square).astype(np.int16) - tolerance
    hi = cv2.dilate(truth, square).astype(np.int16) + tolerance
    f = frame.astype(np.int16)
    outside = ((f < lo) | (f > hi)).any(axis=2)
    return inside & outside


def grid_contrast(frame: np.ndarray, block: int = 8, tile: int = 64) -> np.ndarray:
    """How much more the frame changes across the renderer's ``block``-pixel grid lines
    than between other neighbouring pixels, per ``tile``-pixel tile: the mean colour step
    across grid lines over the mean step elsewhere (about 1 where the frame knows
    nothing of the grid; a patch with block-aligned edges raises its tiles well above
    that). float64 (rows, cols), NaN for flat tiles (steps under a level on average)."""
    f = frame.astype(np.float32)
    steps_x = np.abs(np.diff(f, axis=1)).sum(axis=2)  # between columns x and x + 1
    steps_y = np.abs(np.diff(f, axis=0)).sum(axis=2)
    on_x = (np.arange(steps_x.shape[1]) % block) == block - 1
    on_y = (np.arange(steps_y.shape[0]) % block) == block - 1
    h, w = frame.shape[:2]
    ratios = np.full((h // tile, w // tile), np.nan)
    for r in range(h // tile):
        for c in range(w // tile):
            y0, x0 = r * tile, c * tile
            sx = steps_x[y0 : y0 + tile, x0 : x0 + tile - 1]
            sy = steps_y[y0 : y0 + tile - 1, x0 : x0 + tile]
            ox, oy = on_x[x0 : x0 + tile - 1], on_y[y0 : y0 + tile - 1]
            grid = np.concatenate([sx[:, ox].ravel(), sy[oy, :].ravel()])
            rest = np.concatenate([sx[:, ~ox].ravel(), sy[~oy, :].ravel()])
            base = float(rest.mean())
            if base >= 1.0:
                ratios[r, c] = float(grid.mean()) / base
    return ratios
