"""Parallax quality on photographs: the shared bench's scenes with photographic textures,
soft edges and the soft, noisy depth that estimators and stereo give, in one run.

The shared bench (`benchmarks/parallax_quality.py`) paints its layers with synthetic
stripes and hands the renderer an exact disparity with hard edges, which is why a
renderer can beat its baselines by 10 dB there and by 0.3 dB on a real photographed
pair. This evaluation keeps the bench's scene builder, views and `score` (so the
figures mean the same things) and changes what a photograph changes:

* every layer is textured with a photograph that scikit-image ships (`skimage.data`:
  coffee, chelsea, rocket, astronaut, …, crops of them resized to the layer), so
  disocclusions need real texture, not a smooth continuation of synthetic shading;
* object outlines are soft (the alpha blurred by ``--edge-blur`` px): antialiasing,
  defocus and motion blur mix the two sides over a few pixels;
* the renderer gets a *measured* disparity, not the truth: blurred across edges by
  ``--depth-blur`` px (estimators and stereo matching smear depth steps over a window),
  with smooth low-frequency error and noise (``--depth-noise``, correlated over
  ``--grain-px`` px as a matcher's window makes it; 0 for uncorrelated), and optionally
  moved off the picture's edges (``--depth-shift x,y`` px: an estimator whose steps do
  not sit on the outlines; 0,0 by default), or widened on the near side
  (``--depth-fatten`` px: the "foreground fattening" of window-based stereo matching,
  whose window takes the near disparity up to half its width past an outline; 0 by
  default);
* optionally, surfaces that are not parallel to the picture (``--slant S``): every layer
  becomes a tilted plane whose disparity changes by up to ``S`` times its own across half
  the frame, in a random direction, and the background and the ground recede upwards as
  floors, fields and far hills do. The true views are then composited per pixel, nearest
  surface last, each layer moved by the affine map its plane gives (exact, as the
  bench's shifts are for flat layers). 0 by default, the bench's flat layers;
* optionally, more objects (``--objects N``): N in front of the background, at N
  distinct depths, where the bench places 2 to 4. A photographed room or street has more
  depth steps than the renderer's layers (`layers.MAX_LAYERS`);
* optionally, wider camera moves (``--view-scale K``): the bench's view offsets (0.02 to
  0.04 of the width) times K. A photographed stereo pair's baseline moves its nearest
  surfaces by up to a tenth of the width (70 px of a 741-px picture), K = 2.5.

The ground-truth views are composited from the exact layers, as in the bench, and so
are the disocclusion masks that ``psnr_disoccluded`` is taken over: the pixels of the true
view whose surface was hidden in the reference view (by the softened outlines, alpha above
one half) or lies outside it, never derived from the measured disparity. Prints one
JSON line per renderer (the bench's two baselines and
``parallax_pipeline.engine.parallax:render_view``), then the margins over the better
baseline. Needs scikit-image (``.venv/bin/pip install scikit-image``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/parallax_photo_quality.py [--bench ../shared/bench] [--count 6]
        [--size 640x360] [--edge-blur 1.2] [--depth-blur 3] [--depth-noise 0.01] [--grain-px 2]
        [--depth-shift 2,1] [--depth-fatten 2] [--slant 0.3] [--view-scale 2.5]
        [--objects 12]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from parallax_quality import TARGETS, load  # noqa: E402  (the bench loader and targets)

PHOTOS = ("coffee", "chelsea", "rocket", "astronaut", "retina", "immunohistochemistry", "hubble_deep_field", "cat")
"""`skimage.data` colour photographs bundled with scikit-image (no download)."""


def photographs() -> list[np.ndarray]:
    """The bundled colour photographs as float32 RGB in [0, 1]."""
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - a benchmark's dependency
        raise SystemExit("this evaluation needs scikit-image: .venv/bin/pip install scikit-image") from exc
    return [getattr(data, name)()[:, :, :3].astype(np.float32) / 255.0 for name in PHOTOS]


def photo_texture(pictures: list[np.ndarray]):
    """A replacement for the bench's `_texture`: a random crop of a random photograph
    (at least half of its shorter side), resized to the layer, randomly mirrored."""

    def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        picture = pictures[int(rng.integers(0, len(pictures)))]
        ph, pw = picture.shape[:2]
        aspect = w / h
        side = rng.uniform(0.5, 1.0) * min(ph, pw / aspect)
        ch, cw = int(side), int(side * aspect)
        y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
        crop = cv2.resize(picture[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(crop[:, ::-1] if rng.random() < 0.5 else crop, 0.0, 1.0)

    return texture


def soft_mask(shape_mask, blur: float):
    """The bench's `_shape_mask` with its outline softened by a Gaussian of ``blur`` px."""

    def mask(rng, h, w, m, kind):
        hard = shape_mask(rng, h, w, m, kind)
        return cv2.GaussianBlur(hard, (0, 0), blur) if blur > 0 else hard

    return mask


def measured(
    disparity: np.ndarray, rng: np.random.Generator, blur: float, noise: float, shift=(0.0, 0.0), grain_px: float = 2.0,
    fatten: int = 0,
) -> np.ndarray:
    """A disparity map as a photograph's depth comes: the truth blurred across its edges,
    with a smooth error (a few percent, varying over the frame) and noise of ``noise``
    standard deviation, correlated over ``grain_px`` px as matching windows make it (0:
    uncorrelated); moved by ``shift`` (x, y) px when the estimator's steps are to sit off
    the picture's edges; every near surface first widened by ``fatten`` px (a disk's
    grey dilation) when they are to sit outside them."""
    h, w = disparity.shape
    if fatten > 0:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * fatten + 1, 2 * fatten + 1))
        disparity = cv2.dilate(disparity, disk)
    soft = cv2.GaussianBlur(disparity, (0, 0), blur) if blur > 0 else disparity.copy()
    if any(shift):
        move = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        soft = cv2.warpAffine(soft, move, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    smooth = cv2.resize(rng.normal(0.0, 1.0, (4, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
    if grain_px > 0:
        grain = cv2.GaussianBlur(grain, (0, 0), grain_px)
    grain /= max(float(grain.std()), 1e-6)
    out = soft * (1.0 + 0.03 * smooth) + noise * grain
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def crowded(synth, objects: int) -> None:
    """Make the bench's scenes hold ``objects`` objects in front of the background (the
    bench's builder, with its count of 2 to 4 replaced), the nearest at disparity 1."""
    layer_class, margin = synth.Layer, synth.MARGIN
    kinds = ["ground", "polygon", "pole", "ellipse", "polygon"]

    def make_crowded_scene(rng, w, h):
        m = int(margin * w)
        hh, ww = h + 2 * m, w + 2 * m
        # the texture and the outline are looked up at call time: `write_scenes` sets
        # photographs and softened outlines on the module
        layers = [layer_class(synth._texture(rng, hh, ww), np.ones((hh, ww), np.float32), z=rng.uniform(8.0, 14.0))]
        zs = np.sort(rng.uniform(1.0, 6.0, objects))[::-1]
        zs[-1] = 1.0
        for i, z in enumerate(zs):
            kind = kinds[int(rng.integers(0, len(kinds)))] if i else "ellipse"
            layers.append(layer_class(synth._texture(rng, hh, ww), synth._shape_mask(rng, h, w, m, kind), float(z)))
        return layers

    synth.make_scene = make_crowded_scene


def slanted(synth, slant: float) -> None:
    """Make the bench's layers tilted planes (see the module's docstring): each
    `Layer` gains ``gradient``, its disparity's change per canvas pixel (x, y), and the
    bench's `render` is replaced by one that moves each layer by its plane's affine map
    and composites per pixel, farthest first. `disocclusion_mask` and `write_scene` call
    `render` through the module, so they follow."""
    make_scene, margin = synth.make_scene, synth.MARGIN

    def make_tilted_scene(rng, w, h):
        layers = make_scene(rng, w, h)
        half = 0.5 * max(w, h)
        for i, layer in enumerate(layers):
            angle = rng.uniform(0.0, 2.0 * np.pi)
            size = slant * rng.uniform(0.5, 1.0) / half
            gx, gy = size * np.cos(angle), size * np.sin(angle)
            if i == 0 or layer.alpha[-1].mean() > 0.99:  # the background and ground slabs recede upwards
                gx, gy = 0.3 * gx, slant / half
            layer.gradient = (gx, gy)
        # the nearest point the reference view sees, not the nearest layer's centre, is disparity 1
        m, z_min = int(margin * w), min(layer.z for layer in layers)
        seen = (slice(m, m + h), slice(m, m + w))
        layers[0].peak = max(
            float(plane(layer, z_min / layer.z)[seen][layer.alpha[seen] > 0.5].max(initial=0.0)) for layer in layers
        )
        return layers

    def plane(layer, d0):
        """The layer's disparity over its canvas, ``d0`` at the canvas's centre."""
        hh, ww = layer.alpha.shape
        gx, gy = layer.gradient
        yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
        return d0 * (1.0 + gx * (xx - ww / 2) + gy * (yy - hh / 2))

    def render(layers, w, h, dx, dy):
        z_near = min(layer.z for layer in layers) / layers[0].peak
        m = int(margin * w)
        colours, alphas, disparities = [], [], []
        for layer in layers:
            d0 = z_near / layer.z
            field = plane(layer, d0)
            gx, gy = (d0 * g for g in layer.gradient)
            hh, ww = layer.alpha.shape
            offset = d0 - gx * ww / 2 - gy * hh / 2  # the plane at canvas (0, 0)
            # canvas (u, v) lands at (u - m + dx w d, v - m + dy w d): affine, as d is
            forward = np.float32([
                [1 + dx * w * gx, dx * w * gy, dx * w * offset - m],
                [dy * w * gx, 1 + dy * w * gy, dy * w * offset - m],
            ])
            warp = lambda image, border: cv2.warpAffine(image, forward, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)  # noqa: E731
            colours.append(warp(layer.rgb, cv2.BORDER_REFLECT))
            alphas.append(warp(layer.alpha, cv2.BORDER_CONSTANT))
            disparities.append(warp(field, cv2.BORDER_REPLICATE))
        order = np.argsort(np.stack(disparities), axis=0, kind="stable")  # farthest first, per pixel
        rows, cols = np.mgrid[0:h, 0:w]
        rgb = np.zeros((h, w, 3), np.float32)
        disp = np.zeros((h, w), np.float32)
        front = np.zeros((h, w), np.int32)
        colours, alphas, disparities = np.stack(colours), np.stack(alphas), np.stack(disparities)
        for k in range(len(layers)):
            idx = order[k]
            a = alphas[idx, rows, cols]
            rgb = rgb * (1 - a[..., None]) + colours[idx, rows, cols] * a[..., None]
            solid = a > 0.5
            disp[solid] = disparities[idx, rows, cols][solid]
            front[solid] = idx[solid]
        return rgb, np.clip(disp, 0.0, 1.0), front

    synth.make_scene = make_tilted_scene
    synth.render = render


def write_scenes(
    synth, folder: Path, count: int, seed: int, size, edge_blur, depth_blur, depth_noise, depth_shift=(0.0, 0.0),
    grain_px: float = 2.0, depth_fatten: int = 0, slant: float = 0.0, view_scale: float = 1.0, objects: int = 0,
) -> None:
    """The bench's scenes (its builder, views and masks) with photographs, soft edges and
    a measured disparity in place of the exact one; tilted planes when ``slant``."""
    synth._texture = photo_texture(photographs())
    synth._shape_mask = soft_mask(synth._shape_mask, edge_blur)
    if objects > 0:
        crowded(synth, objects)
    if slant > 0:
        slanted(synth, slant)
    synth.OFFSETS = [(dx * view_scale, dy * view_scale) for dx, dy in synth.OFFSETS]
    w, h = size
    for i in range(count):
        scene = folder / f"scene_{seed + i:03d}"
        synth.write_scene(scene, seed + i, w, h)
        truth = np.load(scene / "disparity.npy")
        rng = np.random.default_rng(10_000 + seed + i)
        np.save(scene / "disparity.npy", measured(truth, rng, depth_blur, depth_noise, depth_shift, grain_px, depth_fatten))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--edge-blur", type=float, default=1.2)
    ap.add_argument("--depth-blur", type=float, default=3.0)
    ap.add_argument("--depth-noise", type=float, default=0.01)
    ap.add_argument("--grain-px", type=float, default=2.0, help="px the depth noise is correlated over (0: uncorrelated)")
    ap.add_argument("--depth-shift", default="0,0", help="x,y px: the measured depth's steps off the picture's edges")
    ap.add_argument("--depth-fatten", type=int, default=0, help="px the measured depth's near surfaces reach past their outlines")
    ap.add_argument("--slant", type=float, default=0.0, help="tilted planes: a layer's disparity changes by up to this share of its own across half the frame")
    ap.add_argument("--view-scale", type=float, default=1.0, help="the bench's view offsets times this")
    ap.add_argument("--objects", type=int, default=0, help="objects in front of the background (0: the bench's 2 to 4)")
    a = ap.parse_args()
    synth = load(a.bench / "synth_scenes.py", "synth_scenes")
    bench = load(a.bench / "parallax_quality.py", "bench_parallax_quality")
    from parallax_pipeline.engine.parallax.renderer import render_view

    size = tuple(int(v) for v in a.size.lower().split("x"))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        scenes = Path(tmp)
        shift = tuple(float(v) for v in a.depth_shift.split(","))
        write_scenes(synth, scenes, a.count, a.seed, size, a.edge_blur, a.depth_blur, a.depth_noise, shift, a.grain_px, a.depth_fatten, a.slant,
                     a.view_scale, a.objects)
        renderers = {**bench.BASELINES, "parallax_pipeline.engine.parallax:render_view": render_view}
        for name, fn in renderers.items():
            rows[name] = bench.score(fn, scenes)
            print(json.dumps({"renderer": name, **rows[name]}), flush=True)
    ours = rows["parallax_pipeline.engine.parallax:render_view"]
    best = {key: max(rows[name][key] for name in bench.BASELINES) for key in TARGETS}
    margins = {key: round(ours[key] - best[key], 3) for key in TARGETS}
    print(json.dumps({"evaluation": "photographs", "margin_over_better_baseline": margins}), flush=True)


if __name__ == "__main__":
    main()
