#!/usr/bin/env python
"""Generate the committed demo project ``projects/demo/`` from nothing but code.

Usage (from the repository root)::

    .venv/bin/python scripts/make_demo_project.py [--out projects/demo]

What it makes:

* four procedural scenes (``images/<id>.jpg``) with an *exact* depth map each
  (``depth/<id>.png``). Every scene is painted back to front from a few flat or slanted
  layers of known disparity, so the image and the disparity agree pixel for pixel; there
  is no depth *estimate* involved, which makes the demo a ground truth for the renderer;
* one spoken line per scene (``audio/voiceover/<id>.wav``) from the ``espeak-ng`` binary;
* a short loopable music bed (``audio/music.mp3``) and two sound effects
  (``audio/sfx/whoosh.wav``, ``audio/sfx/chime.wav``), synthesized with numpy;
* ``project.yaml`` tying it together, and a ``README.md``.

Everything is seeded, so a rerun gives the same pictures and sounds. The images and depth
maps come from `render_scene`, which writes nothing and can be called on its own (the
tests use it to check that determinism).

Only numpy, OpenCV, PyAV, PyYAML and the ``espeak-ng`` program are used; the pipeline
itself is imported only at the end, to validate the result with ``load_project``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "projects" / "demo"

SEED = 20_240_611
"""Base seed; each scene and each sound derives its own generator from it."""

WIDTH, HEIGHT = 960, 540
JPEG_QUALITY = 90
SCENE_DURATION = 4.0
"""Seconds per scene in project.yaml; every voiceover line must end well before this."""

SKY = 0.05
"""Disparity of the sky / farthest background in every scene (0 = infinitely far)."""

VOICE_RATE = 22_050  # espeak-ng's native rate, so normally no resampling is needed
MUSIC_RATE = 44_100
SFX_RATE = 48_000
MUSIC_BITRATE = 128_000


# ============================================================================ painting


class Canvas:
    """An RGB image and its disparity map, painted back to front (painter's algorithm).

    Each `paint` writes colour and disparity through the *same* mask, so the finished
    image and disparity agree exactly per pixel. Painting a surface behind one already
    on the canvas is refused: it would hide a near object behind a far one, and a depth
    map in which that happens is not a scene a camera could see.
    """

    def __init__(self, height: int = HEIGHT, width: int = WIDTH):
        self.rgb = np.zeros((height, width, 3), np.float32)
        # -inf: nothing painted yet, so the first layer may go anywhere.
        self.disparity = np.full((height, width), -np.inf)

    @property
    def shape(self) -> tuple[int, int]:
        return self.disparity.shape

    def paint(self, name: str, mask: np.ndarray, color, disparity) -> None:
        """Paint `color` (RGB triple or HxWx3 array) at `disparity` (scalar or HxW) where `mask`."""
        mask = np.asarray(mask, bool)
        color = np.broadcast_to(np.asarray(color, np.float32), (*self.shape, 3))
        disparity = np.broadcast_to(np.asarray(disparity, np.float64), self.shape)
        new, old = disparity[mask], self.disparity[mask]
        if new.size and (new.min() < 0.0 or new.max() > 1.0):
            raise ValueError(f"layer {name!r}: disparity outside [0, 1]")
        behind = np.count_nonzero(new < old - 1e-9)
        if behind:
            raise ValueError(f"layer {name!r} would be painted over a nearer surface in {behind} pixels")
        self.rgb[mask] = color[mask]
        self.disparity[mask] = new

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """The image as uint8 RGB and the disparity as float64 in [0, 1]; every pixel must be painted."""
        if not np.all(np.isfinite(self.disparity)):
            raise ValueError("some pixels were never painted (the first layer must cover the frame)")
        rgb = np.clip(np.rint(self.rgb * 255.0), 0, 255).astype(np.uint8)
        return rgb, self.disparity.copy()


def pixel_grid() -> tuple[np.ndarray, np.ndarray]:
    """Row (y) and column (x) coordinates of every pixel, as float64 arrays.

    float64 on purpose: disparities computed from them are compared for "nearer than",
    and float32 rounding would make a surface a hair nearer than the one it stands on.
    """
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return yy.astype(np.float64), xx.astype(np.float64)


@dataclass(frozen=True)
class Ground:
    """A flat ground (or sea) plane seen from a level camera.

    For a plane, disparity is linear in the image row: `far` on the `horizon` row and
    `near` on the bottom row. Objects "stand" on it at the row where the plane's
    disparity equals their own (`row_at`).
    """

    horizon: float
    far: float = SKY
    near: float = 1.0

    def disparity(self, yy: np.ndarray) -> np.ndarray:
        t = np.clip((yy - self.horizon) / (HEIGHT - 1 - self.horizon), 0.0, 1.0)
        return self.far + (self.near - self.far) * t

    def row_at(self, disparity: float) -> float:
        return self.horizon + (disparity - self.far) / (self.near - self.far) * (HEIGHT - 1 - self.horizon)

    def mask(self, yy: np.ndarray) -> np.ndarray:
        return yy >= self.horizon

    def coords(self, yy: np.ndarray, xx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Plane coordinates for texturing: (across, along) the view, in camera heights.

        Textures laid out in these coordinates shrink towards the horizon the way a real
        ground does, which is what makes a still image read as a 3D place.
        """
        below = np.maximum(yy - self.horizon, 1.0)
        along = (HEIGHT - self.horizon) / below
        across = (xx - WIDTH / 2) / below
        return across, along

    def detail(self, yy: np.ndarray) -> np.ndarray:
        """0 at the horizon, 1 close up: fades texture contrast out where it would alias."""
        t = np.clip((yy - self.horizon) / (HEIGHT - self.horizon), 0.0, 1.0)
        return smoothstep(0.0, 0.25, t)[..., None]


def standing(mask: np.ndarray, disparity, ground: Ground, yy: np.ndarray) -> np.ndarray:
    """Cut `mask` off below the rows where the ground is nearer than the object.

    That is where an object standing on the ground meets it; below that line the ground
    in front of the object must stay visible.
    """
    return mask & (ground.disparity(yy) <= disparity)


# ---------------------------------------------------------------------------- noise


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Value noise with features about `cell` pixels wide (a random grid, bicubic upsampled)."""
    height, width = shape
    grid = rng.random((height // cell + 3, width // cell + 3), dtype=np.float32)
    big = cv2.resize(grid, (grid.shape[1] * cell, grid.shape[0] * cell), interpolation=cv2.INTER_CUBIC)
    return big[cell : cell + height, cell : cell + width]


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell: int, octaves: int = 4, gain: float = 0.5
) -> np.ndarray:
    """Several octaves of `smooth_noise` (each half the size, `gain` the weight), stretched to [0, 1]."""
    total = np.zeros(shape, np.float32)
    weight = 1.0
    for octave in range(octaves):
        total += weight * smooth_noise(rng, shape, max(1, cell >> octave))
        weight *= gain
    return normalize(total)


def ridge(rng: np.random.Generator, cell: int, octaves: int = 5) -> np.ndarray:
    """A 1-D fractal profile across the frame (one value per column) in [0, 1]: skylines of hills."""
    return fractal_noise(rng, (1, WIDTH), cell, octaves)[0]


def normalize(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / max(high - low, 1e-6)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# ---------------------------------------------------------------------------- colour


def rgb(hex_color: str) -> np.ndarray:
    """'#rrggbb' as a float RGB triple in [0, 1]."""
    return np.array([int(hex_color[i : i + 2], 16) / 255.0 for i in (1, 3, 5)], np.float32)


def mix(a, b, t) -> np.ndarray:
    """Linear blend from `a` (t = 0) to `b` (t = 1); `t` may be a scalar or an HxW(x1) array."""
    t = np.asarray(t, np.float32)
    if t.ndim == 2:
        t = t[..., None]
    return np.asarray(a, np.float32) * (1.0 - t) + np.asarray(b, np.float32) * t


def vertical_gradient(stops: list[tuple[float, str]]) -> np.ndarray:
    """An HxWx3 image whose colour depends on the row, interpolated between (row, colour) stops."""
    rows = np.arange(HEIGHT, dtype=np.float32)
    ys = [y for y, _ in stops]
    colors = np.array([rgb(c) for _, c in stops])
    column = np.stack([np.interp(rows, ys, colors[:, channel]) for channel in range(3)], axis=-1)
    return np.broadcast_to(column[:, None, :], (HEIGHT, WIDTH, 3)).astype(np.float32)


def textured(base: str, noise: np.ndarray, amount: float) -> np.ndarray:
    """`base` colour brightened and darkened by `noise` in [0, 1] by up to +-amount/2."""
    return rgb(base) * (1.0 - amount / 2 + amount * noise)[..., None]


def aerial(color: np.ndarray, disparity, haze: str, strength: float) -> np.ndarray:
    """Fade far things towards the haze colour: the atmosphere is most of a depth cue."""
    amount = strength * (1.0 - np.asarray(disparity, np.float32)) ** 2
    return mix(color, rgb(haze), amount)


# ---------------------------------------------------------------------------- shapes


def polygon_mask(points) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points)).astype(np.int32)], 1)
    return mask.astype(bool)


def line_mask(p0, p1, thickness: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.line(mask, tuple(int(round(v)) for v in p0), tuple(int(round(v)) for v in p1), 1, max(1, thickness))
    return mask.astype(bool)


def ellipse_profile(yy, xx, cx, cy, rx, ry) -> np.ndarray:
    """sqrt(1 - r^2) inside an ellipse (a dome: 1 at the centre, 0 on the rim), NaN outside."""
    r2 = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    return np.where(r2 <= 1.0, np.sqrt(np.maximum(1.0 - r2, 0.0)), np.nan)


def boulder(canvas: Canvas, ground: Ground, yy, xx, rng, ellipse, disparity_range, color: str) -> None:
    """A rounded rock: an elliptical dome, nearest in the middle, lit from the upper left.

    `ellipse` is (cx, cy, rx, ry) in pixels; the rim lies at the first disparity of
    `disparity_range` and the top of the dome at the second.
    """
    cx, cy, rx, ry = ellipse
    dome = ellipse_profile(yy, xx, cx, cy, rx, ry)
    inside = ~np.isnan(dome)
    dome = np.nan_to_num(dome)
    rim, top = disparity_range
    disparity = np.where(inside, rim + (top - rim) * dome, 0.0)
    # Lambert shading from the dome's normal (x, y, height), light low from the left.
    normal = np.stack([(xx - cx) / rx, (yy - cy) / ry, dome], axis=-1)
    light = np.array([-0.75, -0.35, 0.55]) / np.linalg.norm([-0.75, -0.35, 0.55])
    lambert = np.clip(normal @ light, 0.0, 1.0)
    shade = (0.25 + 0.95 * lambert)[..., None]
    texture = textured(color, fractal_noise(rng, canvas.shape, 10, 4), 0.5) * shade
    canvas.paint("boulder", standing(inside, disparity, ground, yy), texture, disparity)


def conifer(canvas: Canvas, ground: Ground, yy, xx, rng, x: float, d: float, haze: str, strength: float) -> None:
    """A fir tree standing on `ground` at disparity `d`: a trunk under stacked triangles."""
    base = ground.row_at(d)
    height = 330.0 * d * rng.uniform(0.8, 1.2)
    half = 0.22 * height
    trunk = (np.abs(xx - x) <= 0.03 * height) & (yy >= base - 0.3 * height)  # cut at its foot by `standing`
    canvas.paint("fir trunk", standing(trunk, d, ground, yy), aerial(rgb("#4a3322"), d, haze, strength), d)
    leaves = np.zeros_like(trunk)
    for tier in range(3):  # three overlapping tiers read as a fir, one triangle as a cone
        bottom = base - 0.15 * height - tier * 0.25 * height
        width = half * (1.0 - 0.25 * tier)
        leaves |= polygon_mask([(x - width, bottom), (x + width, bottom), (x, bottom - 0.5 * height)])
    shade = fractal_noise(rng, (HEIGHT, WIDTH), 8, 3)
    lit = np.clip((xx - x) / max(half, 1.0) * -0.5 + 0.5, 0, 1)  # light from the left
    color = textured("#24502c", 0.6 * shade + 0.4 * lit, 0.7)
    canvas.paint("fir", standing(leaves, d, ground, yy), aerial(color, d, haze, strength), d)


# ============================================================================ scenes


def build_valley(rng: np.random.Generator) -> Canvas:
    """Dawn over a valley: sky and sun, far mountains, hills opening onto fields, firs, grass."""
    yy, xx = pixel_grid()
    canvas = Canvas()
    ground = Ground(horizon=250)
    haze = "#f0c8a8"

    # Sky with a low sun; the glow is part of the sky, the same (farthest) surface.
    sky = vertical_gradient([(0, "#34396f"), (120, "#a8778f"), (250, "#ffc88c")])
    sun_distance = np.hypot(xx - 610, yy - 205)
    sky = mix(sky, rgb("#fff1c8"), 0.7 * np.exp(-sun_distance / 70.0))
    sky[sun_distance < 26] = rgb("#fff8e8")
    canvas.paint("sky", np.ones(canvas.shape, bool), sky, SKY)

    # Long thin clouds: noise stretched sideways, kept well above the horizon.
    clouds = cv2.resize(fractal_noise(rng, (HEIGHT, WIDTH // 4), 24, 4), (WIDTH, HEIGHT))
    cloud_mask = (clouds > 0.66) & (yy < 170)
    canvas.paint("clouds", cloud_mask, mix(rgb("#c98a9a"), rgb("#ffe0c8"), clouds), 0.07)

    # The valley floor: a patchwork of fields with crop rows and a meandering river.
    across, along = ground.coords(yy, xx)
    palette = np.array([rgb(c) for c in ("#6f9a3c", "#8fae4a", "#c2b45a", "#5d8a3a", "#a7a04e", "#7a9e58")])
    fields = rng.integers(0, len(palette), (64, 64))
    field = fields[np.floor(along / 1.5).astype(int) % 64, np.floor(across / 1.2 + 32).astype(int) % 64]
    rows = 0.5 + 0.5 * np.sin(along * 14.0 + (field % 2) * across * 9.0)
    grain = fractal_noise(rng, canvas.shape, 16, 4)
    floor = palette[field] * (0.8 + 0.25 * rows * ground.detail(yy)[..., 0] + 0.15 * grain)[..., None]
    river = np.abs(across - 0.9 * np.sin(along * 0.45) - 0.3) < 0.12
    floor[river] = mix(rgb("#9cc4d8"), rgb("#ffe6c0"), 0.3 * grain)[river]
    d_floor = ground.disparity(yy)
    canvas.paint("valley floor", ground.mask(yy), aerial(floor, d_floor, haze, 0.75), d_floor)

    # Far mountains: a jagged ridge, snow on the peaks, haze-blue.
    d = 0.12
    top = 105 + 110 * ridge(rng, 160)
    rock = fractal_noise(rng, canvas.shape, 12, 4)
    mountain = textured("#6c6f8c", rock, 0.5)
    snow = yy < 150 + 30 * rock  # a ragged snow line at one height across the range
    mountain[snow] = textured("#f3ece8", rock, 0.2)[snow]
    canvas.paint("mountains", standing(yy >= top[None, :], d, ground, yy), aerial(mountain, d, haze, 0.6), d)

    # Green hills on both sides; a dip in the middle leaves the valley open.
    d = 0.25
    top = 205 + 45 * ridge(rng, 220) + 140 * np.exp(-(((np.arange(WIDTH) - 470) / 170.0) ** 2))
    hills = textured("#3f6b34", fractal_noise(rng, canvas.shape, 20, 4), 0.5)
    canvas.paint("hills", standing(yy >= top[None, :], d, ground, yy), aerial(hills, d, haze, 0.6), d)

    # Firs at a few distances, farthest first (painter's order).
    firs = [(120, 0.33), (205, 0.38), (720, 0.36), (800, 0.45), (880, 0.55), (330, 0.62)]
    for x, d in sorted(firs, key=lambda fir: fir[1]):
        conifer(canvas, ground, yy, xx, rng, x, d, haze, 0.6)

    # Foreground: a boulder bottom left and thin blades of grass bottom right.
    boulder(canvas, ground, yy, xx, rng, (150, 590, 230, 150), (0.86, 0.98), "#8a7f74")
    blades = np.stack([rng.uniform(560, 950, 40), rng.uniform(505, HEIGHT + 10, 40)], axis=1)
    for base_x, base_y in blades[np.argsort(blades[:, 1])]:  # farther (higher) blades first
        d = float(ground.disparity(min(base_y, HEIGHT - 1)))
        tip = (base_x + rng.uniform(-30, 30), base_y - rng.uniform(70, 150))
        color = mix(rgb("#4d7a2a"), rgb("#c7c06a"), rng.uniform(0, 1))
        canvas.paint("grass", standing(line_mask((base_x, base_y), tip, 3), d, ground, yy), color, d)
    return canvas


def paint_trunk(canvas, ground, yy, xx, bark, x, half_width, d, haze, strength) -> None:
    """A round trunk from above the frame down to the ground, bulging towards the camera."""
    across = (xx - x) / half_width
    inside = np.abs(across) <= 1.0
    roundness = np.sqrt(np.clip(1.0 - across**2, 0.0, 1.0))
    disparity = np.minimum(d + 0.02 * d * roundness, 1.0)
    shading = 0.45 + 0.55 * np.clip(0.6 * roundness - 0.4 * across, 0.0, 1.0)  # lit from the left
    color = textured("#5e4a38", bark, 0.6) * shading[..., None]
    canvas.paint("trunk", standing(inside, disparity, ground, yy), aerial(color, d, haze, strength), disparity)


def build_forest(rng: np.random.Generator) -> Canvas:
    """A misty forest: a far tree line, trunks at several distances, a thin trunk right up front."""
    yy, xx = pixel_grid()
    canvas = Canvas()
    ground = Ground(horizon=330)
    haze = "#cfdccb"

    sky = vertical_gradient([(0, "#e9f1dc"), (330, "#c2d2bd")])
    canvas.paint("mist", np.ones(canvas.shape, bool), sky, SKY)

    # The forest floor first: the far trees stand on it, so it lies behind their feet.
    # Moss and leaf litter, with a pale path winding away.
    across, along = ground.coords(yy, xx)
    litter = fractal_noise(rng, canvas.shape, 6, 4)
    floor = mix(rgb("#4d5a2c"), rgb("#7a6a3c"), litter * ground.detail(yy)[..., 0])
    path = np.abs(across - 0.5 * np.sin(along * 0.6)) < 0.55
    floor[path] = textured("#a3906a", litter, 0.35)[path]
    d_floor = ground.disparity(yy)
    canvas.paint("forest floor", ground.mask(yy), aerial(floor, d_floor, haze, 0.9), d_floor)

    # Far tree line: a jagged canopy edge over thin hazy trunks.
    d = 0.12
    canopy_edge = 150 + 90 * ridge(rng, 40)
    far = (yy >= canopy_edge[None, :]) | (yy < 60 + 40 * fractal_noise(rng, canvas.shape, 30, 3))
    for x in rng.uniform(0, WIDTH, 60):
        far |= (np.abs(xx - x) < rng.uniform(2, 5)) & (yy < 330)
    color = textured("#4f6a4c", fractal_noise(rng, canvas.shape, 6, 3), 0.4)
    canvas.paint("far trees", standing(far, d, ground, yy), aerial(color, d, haze, 0.9), d)

    # Leaves hanging in across the top of the frame.
    d = 0.2
    foliage = fractal_noise(rng, canvas.shape, 18, 4)
    leaves = (yy < 70 + 80 * foliage) & (foliage > 0.35)
    canvas.paint("canopy", leaves, aerial(textured("#3d6a33", foliage, 0.6), d, haze, 0.9), d)

    # Trunks at rising disparity: nearer ones are wider, and rounded in depth.
    bark = fractal_noise(rng, (HEIGHT, WIDTH // 8), 4, 3)
    bark = cv2.resize(bark, (WIDTH, HEIGHT))  # stretched along y: vertical bark furrows
    for x, d in [(90, 0.24), (610, 0.28), (300, 0.34), (860, 0.4), (470, 0.5), (150, 0.62)]:
        paint_trunk(canvas, ground, yy, xx, bark, x, 70 * d, d, haze, 0.9)

    # The thin trunk in front: the hardest case for a parallax renderer's occlusion edges.
    paint_trunk(canvas, ground, yy, xx, bark, 735, 13, 0.9, haze, 0.0)

    # Ferns in the near left corner: fans of thin fronds. They overlap, so farther first.
    feet = HEIGHT - 1 - rng.uniform(0, 12, 3)
    for cx, base_y in sorted(zip((60, 170, 260), feet), key=lambda fern: fern[1]):
        d = float(ground.disparity(base_y))
        fern = np.zeros(canvas.shape, bool)
        for angle in np.linspace(-1.2, 1.2, 9) + rng.uniform(-0.1, 0.1, 9):
            length = rng.uniform(90, 150)
            fern |= line_mask((cx, base_y), (cx + length * np.sin(angle), base_y - length * np.cos(angle)), 5)
        canvas.paint("fern", standing(fern, d, ground, yy), textured("#4f8a32", litter, 0.5), d)
    return canvas


def paint_facades(canvas, ground, yy, xx, rng, side, d_facade, haze, grain) -> None:
    """One side of the street: buildings of varying height with a grid of windows, some lit."""
    horizon = ground.horizon
    foot = ground.row_at(d_facade)  # where each column of the facade meets the street
    scale = np.maximum(foot - horizon, 1e-3)  # pixels per camera height at this distance
    along = (HEIGHT - horizon) / scale  # distance along the street
    up = (foot - yy) / scale  # height above the street, in camera heights
    # Buildings are 6 units long; each has its own height (in camera heights) and colour.
    building = np.floor(along / 6.0).astype(int) % 32
    heights = rng.uniform(2.0, 5.5, 32)
    colors = np.array([rgb(c) for c in ("#7a5a58", "#5f5a6e", "#8a6d5a", "#6a6a74", "#755f6b")])
    tints = rng.integers(0, len(colors), 32)
    in_facade = (up <= heights[building]) & (d_facade > 0.14) & (side * (xx - WIDTH / 2) > 0)
    window = ((along * 1.2) % 1.0 < 0.55) & ((up * 1.4) % 1.0 < 0.5) & (up > 0.8) & (up < heights[building] - 0.3)
    lit_table = rng.random((256, 64)) > 0.55
    lit = lit_table[np.floor(along * 1.2).astype(int) % 256, np.floor(up * 1.4).astype(int) % 64]
    color = colors[tints[building]] * (0.85 + 0.3 * grain)[..., None]
    color[window] = np.where(lit[window][:, None], rgb("#ffd27a"), rgb("#2a2838"))
    color = aerial(color, d_facade, haze, 0.5)
    canvas.paint(f"facades {side:+d}", standing(in_facade, d_facade, ground, yy), color, d_facade)


def build_city(rng: np.random.Generator) -> Canvas:
    """A street at dusk: facades receding to a vanishing point, a far skyline, a lamp post in front."""
    yy, xx = pixel_grid()
    canvas = Canvas()
    ground = Ground(horizon=330)
    haze = "#d08a70"
    vanish_x = WIDTH / 2

    sky = vertical_gradient([(0, "#141a3c"), (200, "#5a3f6a"), (330, "#f09a62")])
    stars = rng.random(canvas.shape) > 0.9985
    sky[stars & (yy < 200)] = rgb("#fff6dc")
    moon = np.hypot(xx - 760, yy - 80) < 20
    sky[moon] = rgb("#f4f0da")
    canvas.paint("sky", np.ones(canvas.shape, bool), sky, SKY)

    # The street first (the skyline stands on it): asphalt, dashed centre line, kerbs and pavements.
    across, along = ground.coords(yy, xx)
    asphalt = fractal_noise(rng, canvas.shape, 4, 3)
    street = textured("#3a3640", asphalt, 0.3)
    dash = (np.abs(across) < 0.04) & ((along * 0.5) % 1.0 < 0.5)
    street[dash] = rgb("#e8d9a0")
    pavement = np.abs(across) > 2.2
    street[pavement] = textured("#6d6470", asphalt, 0.3)[pavement]
    street[(np.abs(across) > 2.15) & ~pavement] = rgb("#9a929c")
    d_street = ground.disparity(yy)
    canvas.paint("street", ground.mask(yy), aerial(street, d_street, haze, 0.5), d_street)

    # Far skyline: blocks of random width and height, a few lit windows.
    d = 0.1
    skyline = np.zeros(canvas.shape, bool)
    x = 0.0
    while x < WIDTH:
        width = rng.uniform(25, 70)
        skyline |= (xx >= x) & (xx < x + width) & (yy >= rng.uniform(200, 300))
        x += width
    color = np.broadcast_to(rgb("#2c2a48"), (HEIGHT, WIDTH, 3)).copy()
    lit = (rng.random(canvas.shape) > 0.985) & (yy % 6 < 2)
    color[lit] = rgb("#ffd98a")
    canvas.paint("skyline", standing(skyline, d, ground, yy), aerial(color, d, haze, 0.5), d)

    # Facades along both sides: vertical planes parallel to the street, so their
    # disparity is linear in x and they meet the street on lines through the vanishing point.
    slope = (1.0 - SKY) / (HEIGHT - 1 - ground.horizon)  # ground disparity per row
    for side, kerb in ((-1, 2.9), (1, 3.1)):
        d_facade = SKY + slope * (side * (xx - vanish_x)) / kerb  # |across| = kerb at the foot
        d_facade = np.clip(d_facade, 0.0, 1.0)
        paint_facades(canvas, ground, yy, xx, rng, side, d_facade, haze, asphalt)

    # A street lamp on the left pavement, in front of everything: a thin pole.
    d = 0.75
    base = ground.row_at(d)
    pole_x = vanish_x - 2.45 * (base - ground.horizon)
    pole = line_mask((pole_x, base), (pole_x, 110), 9) | line_mask((pole_x, 114), (pole_x + 55, 118), 6)
    canvas.paint("lamp pole", standing(pole, d, ground, yy), rgb("#25232b"), d)
    lamp = polygon_mask([(pole_x + 38, 118), (pole_x + 72, 118), (pole_x + 66, 132), (pole_x + 44, 132)])
    canvas.paint("lamp", lamp, rgb("#fff0b0"), d)
    return canvas


def build_coast(rng: np.random.Generator) -> Canvas:
    """A sunny coast: sea to the horizon, an island with a lighthouse, a cliff, a beach, a post."""
    yy, xx = pixel_grid()
    canvas = Canvas()
    ground = Ground(horizon=240)
    haze = "#d6e6f2"

    sky = vertical_gradient([(0, "#3f7fcf"), (240, "#cfe4f4")])
    canvas.paint("sky", np.ones(canvas.shape, bool), sky, SKY)
    # Fair-weather clouds: broad noise stretched sideways, thinning out towards the horizon.
    puffs = cv2.resize(fractal_noise(rng, (HEIGHT, WIDTH // 3), 20, 4, gain=0.45), (WIDTH, HEIGHT))
    clouds = (puffs > 0.58 + 0.4 * smoothstep(80, 200, yy)) & (yy < 200)
    shade = mix(rgb("#ffffff"), rgb("#a9bcd4"), np.clip(1.6 * (0.8 - puffs), 0, 1))  # thin edges darker
    canvas.paint("clouds", clouds, shade, 0.07)

    # Sea and beach: one plane; the shoreline is a wavy line across it.
    across, along = ground.coords(yy, xx)
    d_plane = ground.disparity(yy)
    shore = 0.45 + 0.03 * np.sin(across * 2.0)
    grain = fractal_noise(rng, canvas.shape, 3, 3)
    waves = 0.5 + 0.5 * np.sin(along * 9.0 + 2.0 * fractal_noise(rng, canvas.shape, 40, 3) * 6.0)
    sea = mix(rgb("#1d5f8f"), rgb("#2f9fb0"), smoothstep(0.05, 0.45, d_plane))
    sea = sea * (0.9 + 0.2 * waves * ground.detail(yy)[..., 0])[..., None]
    sand = textured("#e3cf9c", grain, 0.25)
    plane = np.where((d_plane < shore)[..., None], sea, sand)
    plane[(d_plane >= shore - 0.012) & (d_plane < shore)] = rgb("#f4f8f6")  # surf
    wet = (d_plane >= shore) & (d_plane < shore + 0.05)
    plane[wet] = textured("#b9a47a", grain, 0.25)[wet]
    canvas.paint("sea and beach", ground.mask(yy), aerial(plane, d_plane, haze, 0.5), d_plane)

    # A far island with a lighthouse (thin, white and red).
    d = 0.08
    island = np.nan_to_num(ellipse_profile(yy, xx, 700, ground.row_at(d), 110, 26)) > 0
    canvas.paint("island", standing(island, d, ground, yy), aerial(rgb("#4c6a48"), d, haze, 0.7), d)
    tower = (np.abs(xx - 690) <= 4) & (yy >= 190) & (yy < ground.row_at(d) - 18)
    stripes = np.where((yy // 7) % 2 == 0, 1.0, 0.0)[..., None]
    canvas.paint("lighthouse", tower, aerial(mix(rgb("#ffffff"), rgb("#c8322c"), stripes), d, haze, 0.5), d)

    # Gulls: small dark "v" shapes floating in front of the sky.
    for _ in range(4):
        gx, gy, size = rng.uniform(300, 620), rng.uniform(60, 170), rng.uniform(6, 11)
        gull = line_mask((gx - size, gy - size / 2), (gx, gy), 2)
        gull |= line_mask((gx, gy), (gx + size, gy - size / 2), 2)
        canvas.paint("gull", gull, rgb("#3a3a44"), 0.2)

    # A cliff on the left, slanted in depth: near at the frame edge, farther to the right.
    d_cliff = np.clip(0.85 - (0.85 - 0.3) * xx / 280.0, 0.3, 0.85)
    crest = 110 + 110 * (np.arange(WIDTH) / 280.0) ** 1.5 + 20 * ridge(rng, 30)
    edge = 250 + 45 * fractal_noise(rng, (HEIGHT, 1), 40, 4)[:, 0]  # ragged seaward edge
    cliff = (yy >= crest[None, :]) & (xx <= edge[:, None])
    rock = fractal_noise(rng, canvas.shape, 8, 4)
    strata = 0.5 + 0.5 * np.sin((yy + 12 * rock) * 0.25)
    color = textured("#b08a62", 0.6 * rock + 0.4 * strata, 0.6)
    grass = yy < crest[None, :] + 10 + 6 * rock
    color[grass] = textured("#6f9a44", rock, 0.4)[grass]
    canvas.paint("cliff", standing(cliff, d_cliff, ground, yy), aerial(color, d_cliff, haze, 0.5), d_cliff)

    # A weathered mooring post in the sand: another thin vertical in front.
    d = 0.8
    base = ground.row_at(d)
    post = (np.abs(xx - 640) <= 8) & (yy >= base - 210) & (yy <= base)
    wood = textured("#6e5238", fractal_noise(rng, canvas.shape, 4, 3), 0.5)
    canvas.paint("post", standing(post, d, ground, yy), wood, d)

    # A rounded rock in the bottom right corner, closest of all.
    boulder(canvas, ground, yy, xx, rng, (850, 575, 200, 120), (0.88, 1.0), "#7a746c")
    return canvas


# ============================================================================ the project


@dataclass(frozen=True)
class SceneDef:
    id: str
    build: Callable[[np.random.Generator], Canvas]
    motion: str
    narration: str


SCENES = (
    SceneDef("01-valley", build_valley, "dolly_in", "A quiet valley wakes at dawn."),
    SceneDef("02-forest", build_forest, "pan_right", "Tall trees guard the forest path."),
    SceneDef("03-city", build_city, "circle", "The city lights come on at dusk."),
    SceneDef("04-coast", build_coast, "dolly_out", "Waves roll in along the coast."),
)


def render_scene(scene_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The image (HxWx3 uint8 RGB) and exact disparity (HxW float64, 1 = nearest) of one scene.

    Writes nothing; the generator is seeded from the scene's position so scenes do not
    depend on one another.
    """
    index = [scene.id for scene in SCENES].index(scene_id)
    rng = np.random.default_rng([SEED, index])
    return SCENES[index].build(rng).finish()


def encode_depth(disparity: np.ndarray) -> np.ndarray:
    """Disparity in [0, 1] as the 16-bit depth PNG convention: round(d * 65535)."""
    return np.rint(np.clip(disparity, 0.0, 1.0) * 65535.0).astype(np.uint16)


def write_image(path: Path, image: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def write_depth(path: Path, disparity: np.ndarray) -> None:
    cv2.imwrite(str(path), encode_depth(disparity), [cv2.IMWRITE_PNG_COMPRESSION, 9])


# ============================================================================ sound


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV file."""
    pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit WAV file as float samples in [-1, 1] and its rate."""
    with wave.open(str(path), "rb") as source:
        if source.getnchannels() != 1 or source.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        rate = source.getframerate()
        pcm = np.frombuffer(source.readframes(source.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def peak_normalize(samples: np.ndarray, dbfs: float) -> np.ndarray:
    return samples * (10.0 ** (dbfs / 20.0) / max(float(np.max(np.abs(samples))), 1e-9))


def fade(samples: np.ndarray, rate: int, seconds: float = 0.01) -> np.ndarray:
    """Short linear fade in and out, so a clip starts and ends at zero without a click."""
    n = min(int(rate * seconds), len(samples) // 2)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out = samples.copy()
    out[:n] *= ramp
    out[len(out) - n :] *= ramp[::-1]
    return out


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation resampling; enough for a synthetic voice (only used if espeak's rate changes)."""
    if rate == target:
        return samples
    times = np.arange(int(len(samples) * target / rate)) / target
    return np.interp(times, np.arange(len(samples)) / rate, samples).astype(np.float32)


def speak(text: str, path: Path) -> float:
    """Say `text` with espeak-ng into a clean mono 16-bit WAV at `path`; returns its duration.

    The raw espeak file is re-read and rewritten: its silent tail is trimmed to a short
    pause, the level is set to a typical spoken-word peak (-3 dBFS), and the header is
    a plain one every reader understands.
    """
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), text], check=True)
        samples, rate = read_wav(raw)
    samples, rate = resample(samples, rate, VOICE_RATE), VOICE_RATE
    voiced = np.flatnonzero(np.abs(samples) > 0.01)
    start = max(0, voiced[0] - int(0.05 * rate))
    end = min(len(samples), voiced[-1] + int(0.25 * rate))
    samples = fade(peak_normalize(samples[start:end], -3.0), rate)
    write_wav(path, samples, rate)
    return len(samples) / rate


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def loop_hz(note: float, loop_seconds: float) -> float:
    """The pitch of `note`, nudged (by under 2 cents here) to a whole number of cycles per loop.

    A tone whose cycles fit the loop exactly ends in the phase it starts with, so a
    sustained pad does not click where the music loops back to its start.
    """
    return round(midi_hz(note) * loop_seconds) / loop_seconds


def triangle_tone(freq: float, t: np.ndarray) -> np.ndarray:
    """A soft triangle wave from its first odd harmonics (band limited, so no aliasing)."""
    tone = np.zeros_like(t)
    for k, harmonic in enumerate((1, 3, 5, 7)):
        tone += (-1) ** k * np.sin(2 * np.pi * freq * harmonic * t) / harmonic**2
    return tone * (8 / np.pi**2)


def circular_reverb(signal: np.ndarray, rng: np.random.Generator, rate: int, seconds: float) -> np.ndarray:
    """Convolve with a decaying-noise impulse response *circularly*.

    The tail that would run past the end wraps round to the start, so the loop point of
    the music stays seamless with the reverb on.
    """
    n = len(signal)
    ir = rng.standard_normal(int(seconds * rate)) * np.exp(-np.arange(int(seconds * rate)) / (rate * seconds / 6))
    ir /= np.sqrt(np.sum(ir**2))
    ir_full = np.zeros(n)
    ir_full[: len(ir)] = ir
    return np.fft.irfft(np.fft.rfft(signal) * np.fft.rfft(ir_full), n)


def synth_music(rate: int = MUSIC_RATE) -> np.ndarray:
    """An 8 s loop at 120 bpm: I-vi-IV-V in C with pads, bass and an arpeggio; (2, n) float32 stereo.

    Everything is computed on wrapped time (modulo the loop length), so notes ringing
    over the end continue at the start and the file loops without a seam.
    """
    rng = np.random.default_rng([SEED, 100])
    bar = 2.0  # seconds per chord: one 4/4 bar at 120 bpm
    chords = [(48, 52, 55, 60), (45, 52, 57, 60), (41, 53, 57, 60), (43, 50, 55, 59)]  # C Am F G (MIDI)
    loop = len(chords) * bar
    n = int(loop * rate)
    t = np.arange(n) / rate
    left, right = np.zeros(n), np.zeros(n)

    for index, chord in enumerate(chords):
        start = index * bar
        # Pad and bass: a raised-cosine swell over the bar, overlapping its neighbours by a
        # quarter bar either side (the last chord's tail wraps round under the first).
        local = (t - start + bar / 2) % loop - bar
        envelope = np.where(np.abs(local) < 0.75 * bar, np.cos(np.pi * local / (1.5 * bar)) ** 2, 0.0)
        for note in chord[1:]:
            for channel, cents in ((left, -4.0), (right, 4.0)):  # detuned left/right: width
                freq = loop_hz(note + 12 + cents / 100, loop)
                channel += 0.09 * envelope * (0.6 * np.sin(2 * np.pi * freq * t) + 0.4 * triangle_tone(freq, t))
        bass = 0.22 * envelope * np.sin(2 * np.pi * loop_hz(chord[0], loop) * t)
        left += bass
        right += bass

        # Arpeggio: eighth notes up and down the chord, two octaves above it, plucked.
        pattern = [chord[0], chord[1], chord[2], chord[3], chord[2] + 12, chord[3], chord[2], chord[1]]
        for step, note in enumerate(pattern):
            since = (t - start - step * bar / 8) % loop  # seconds since this note was struck
            pluck = np.exp(-since / 0.22) * np.minimum(since / 0.004, 1.0)
            freq = midi_hz(note + 24)
            tone = pluck * (np.sin(2 * np.pi * freq * since) + 0.25 * np.sin(4 * np.pi * freq * since))
            pan = 0.5 + 0.3 * np.sin(step * np.pi / 4)  # the arpeggio drifts across the stereo field
            left += 0.12 * (1 - pan) * tone
            right += 0.12 * pan * tone

    dry = np.stack([left, right])
    wet = np.stack([circular_reverb(channel, rng, rate, 1.5) for channel in dry])
    mixed = 0.8 * dry + 0.35 * wet
    # Mastered loud, like a raw music file: turning it down under speech is the pipeline's job.
    return peak_normalize(mixed, -1.0).astype(np.float32)


def encode_mp3(path: Path, stereo: np.ndarray, rate: int, bit_rate: int = MUSIC_BITRATE) -> None:
    """Encode (2, n) float samples to an MP3 file with PyAV's libmp3lame."""
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout="stereo")
        stream.bit_rate = bit_rate
        frame_size = 1152  # one MP3 frame
        for start in range(0, stereo.shape[1], frame_size):
            chunk = np.ascontiguousarray(stereo[:, start : start + frame_size], np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def synth_whoosh(rate: int = SFX_RATE, seconds: float = 0.6) -> np.ndarray:
    """Noise through a resonant band-pass whose centre sweeps up then down: a swish past the ear."""
    rng = np.random.default_rng([SEED, 200])
    n = int(rate * seconds)
    phase = np.arange(n) / n
    noise = rng.standard_normal(n)
    centre = 250.0 * (14.0 ** np.sin(np.pi * phase**0.8))  # 250 Hz -> 3.5 kHz -> 250 Hz
    # Chamberlin state-variable filter, one sample at a time (it is time varying).
    coefficient = (2.0 * np.sin(np.pi * centre / rate)).tolist()
    out = np.zeros(n)
    low = band = 0.0
    damping = 0.6  # low damping: a resonant, airy band rather than plain hiss
    for i, (f, x) in enumerate(zip(coefficient, noise.tolist())):
        low += f * band
        high = x - low - damping * band
        band += f * high
        out[i] = band
    envelope = np.sin(np.pi * phase**0.7) ** 2  # swells, peaks past the middle, dies away
    return fade(peak_normalize(out * envelope, -3.0).astype(np.float32), rate)


def synth_chime(rate: int = SFX_RATE, seconds: float = 1.0) -> np.ndarray:
    """A small bell: inharmonic partials (a struck bar's ratios), the higher ones dying faster."""
    t = np.arange(int(rate * seconds)) / rate
    fundamental = midi_hz(84)  # C6
    partials = [(1.0, 1.0, 0.7), (2.756, 0.5, 0.35), (5.404, 0.25, 0.18), (8.933, 0.12, 0.1)]
    bell = sum(
        amp * np.exp(-t / decay) * np.sin(2 * np.pi * fundamental * ratio * t) for ratio, amp, decay in partials
    )
    attack = np.minimum(t / 0.002, 1.0)
    return fade(peak_normalize(bell * attack, -3.0).astype(np.float32), rate, 0.05)


# ============================================================================ files


# Each scene's transition leads into the next one; the last scene's has nothing to lead into.
TRANSITIONS = {
    "01-valley": {"type": "dissolve", "duration": 0.5},
    "02-forest": {"type": "push", "direction": "left", "duration": 0.5},
    "03-city": {"type": "circle", "duration": 0.5},
}


def project_config() -> dict:
    """The project.yaml content (voiceovers and depth maps are found by folder convention)."""
    scenes = []
    for scene in SCENES:
        entry = {"id": scene.id, "image": f"images/{scene.id}.jpg", "motion": {"preset": scene.motion}}
        if scene.id in TRANSITIONS:
            entry["transition"] = TRANSITIONS[scene.id]
        scenes.append(entry)
    return {
        "title": "Parallax Studio demo",
        "output": {"resolution": [640, 360], "fps": 24, "quality": "standard"},
        "defaults": {"duration": SCENE_DURATION, "motion": {"preset": "dolly_in", "amount": 0.1}},
        "scenes": scenes,
        "audio": {
            "music": "audio/music.mp3",
            "music_level": 0.2,
            "ducking": {"depth": 6.0, "attack": 0.25, "hold": 0.6, "release": 0.8},
            "loudness": {"target": "podcast", "true_peak": -1.0},
            "effects": [
                {"file": "audio/sfx/whoosh.wav", "scene": SCENES[1].id, "at": 0.0, "gain": 0.5},
                {"file": "audio/sfx/chime.wav", "scene": SCENES[-1].id, "at": SCENE_DURATION - 1.5, "gain": 0.6},
            ],
        },
    }


def write_yaml(path: Path, config: dict) -> None:
    header = "# Made by scripts/make_demo_project.py; edit the script and rerun rather than this file.\n"
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=110)
    path.write_text(header + body, encoding="utf-8")


README = """\
# Demo project

Everything here is generated by code, so it can be remade at any time:

    .venv/bin/python scripts/make_demo_project.py --out projects/demo

- `images/<scene>.jpg` - four procedural 960x540 scenes (valley, forest, city, coast),
  painted back to front from layers of known depth.
- `depth/<scene>.png` - the *exact* depth of each image (no estimation): 16-bit
  single-channel PNG, value = round(d * 65535), d = disparity in [0, 1], 1 = nearest.
  Image and depth come from the same layers, so edges agree pixel for pixel. Thin
  foreground structures (a tree trunk, a lamp pole, a post, grass) test occlusion edges.
- `audio/voiceover/<scene>.wav` - one line per scene, spoken by espeak-ng (22.05 kHz mono).
- `audio/music.mp3` - an 8 s synthesized loop (C-Am-F-G pads, bass, arpeggio),
  peaking at -1 dBFS like a raw music master.
- `audio/sfx/whoosh.wav`, `audio/sfx/chime.wav` - synthesized effects (48 kHz mono).
- `project.yaml` - four 4 s scenes with different camera moves, music and effects.

Images and depth are deterministic (seeded). The voice depends on the installed
espeak-ng version, and JPEG/MP3 bytes on the encoder versions.
"""


def write_project(out: Path) -> None:
    """Write every file of the demo project into the (existing, empty) folder `out`."""
    for folder in ("images", "depth", "audio/voiceover", "audio/sfx"):
        (out / folder).mkdir(parents=True, exist_ok=True)

    voice_seconds = {}
    for scene in SCENES:
        image, disparity = render_scene(scene.id)
        write_image(out / "images" / f"{scene.id}.jpg", image)
        write_depth(out / "depth" / f"{scene.id}.png", disparity)
        voice_seconds[scene.id] = speak(scene.narration, out / "audio" / "voiceover" / f"{scene.id}.wav")
        if voice_seconds[scene.id] > SCENE_DURATION - 0.5:
            raise ValueError(f"{scene.id}: voiceover is {voice_seconds[scene.id]:.2f} s, too long for the scene")

    encode_mp3(out / "audio" / "music.mp3", synth_music(), MUSIC_RATE)
    write_wav(out / "audio" / "sfx" / "whoosh.wav", synth_whoosh(), SFX_RATE)
    write_wav(out / "audio" / "sfx" / "chime.wav", synth_chime(), SFX_RATE)
    write_yaml(out / "project.yaml", project_config())
    (out / "README.md").write_text(README, encoding="utf-8")


def replace_folder(out: Path, build: Callable[[Path], None]) -> None:
    """Build into a sibling scratch folder, then swap it in for `out`.

    A failed run leaves the previous demo untouched, and a finished one holds no stale
    files from an older version of the script.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
    scratch.chmod(0o755)  # mkdtemp makes it private; the project folder should not be
    try:
        build(scratch)
        old = out.parent / f".{out.name}-old"
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        scratch.rename(out)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)


def validate(out: Path) -> None:
    """Load the result with the pipeline's own project loader; raises if it is not a valid project."""
    sys.path.insert(0, str(REPO_ROOT))
    from parallax_pipeline.spec import load_project

    spec = load_project(out)
    print(f"{out}: {len(spec.scenes)} scenes, {spec.duration:.1f} s, valid")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="project folder to (re)write")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        sys.exit(
            "make_demo_project: the narration is spoken by the espeak-ng program, which is not installed.\n"
            "  Debian/Ubuntu: sudo apt-get install espeak-ng    macOS: brew install espeak-ng\n"
            "The demo project itself ships in projects/demo; this script is only needed to remake it."
        )
    out = args.out.resolve()
    replace_folder(out, write_project)
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        print(f"{path.stat().st_size:>9,d}  {path.relative_to(out)}")
    print(f"{sum(p.stat().st_size for p in out.rglob('*') if p.is_file()):>9,d}  total")
    validate(out)


if __name__ == "__main__":
    main()
