"""Layered depth: one image and its disparity split into depth layers, once per clip.

Longer than the project's other modules because it is one cohesive algorithm: choosing
the cuts, assigning hidden pixels, inpainting and matting each layer depend on one
another's intermediate maps, and reading them in one place is what makes it checkable.

Why layers. A camera that moves sideways uncovers what near things hide, and a single
warped image has nothing to show there: it either stretches the near colour over the gap
(DepthFlow's "rubber sheet") or leaves a hole. Here the image is cut along its depth
edges into a few layers, far to near. Each layer holds its own pixels plus an
*inpainted* continuation of itself behind the nearer layers, so when a near layer slides
away the layer behind shows plausible background instead of smeared foreground. Inside a
layer the disparity is smooth, so every layer can be warped by cheap backward mapping
(`parallax_pipeline.engine.parallax`), and compositing the warped layers in depth order
gives correct occlusion: no stretched edges, no foreground halos left behind, no ghost
doubles, and thin near structures (poles, wires) move as one piece of their layer.

How the cut is chosen (`choose_thresholds`). A *depth edge* is a pixel whose 3x3
neighbourhood spans more disparity than `DEPTH_EDGE` and than one pixel of motion at the
clip's reach. Layers are disparity intervals; a threshold splits every edge whose far
and near sides lie on either side of it. Thresholds are picked greedily, each splitting
as many still-unsplit edge pixels as possible, placed where the fewest image pixels have
that disparity (so continuous slopes are cut where they are thin), up to `MAX_LAYERS`.
A slope that crosses a threshold without an edge becomes a *seam*: both layers carry the
real pixels across it and move identically there, so it never opens.

What each layer holds (`build_layers`):

* colour and alpha, premultiplied RGBA uint8. Its own pixels are opaque; at a depth edge
  the rim (`RIM_PX` pixels each side), whose colour mixes near and far, is *matted*: the near layer gets
  the pure near colour with the pixel's coverage as alpha, the far layer the pure far
  colour, so the antialiased edge is rebuilt wherever the near layer moves (no halo of
  foreground colour left on the background, no background fringe carried along);
* the hidden continuation: pixels behind nearer layers (and outside the picture) within
  the clip's reach whose nearest visible neighbour belongs to this layer get this layer's
  inpainted colour (`inpaint.harmonic` from its own pixels only, so no foreground colour
  leaks into the background) with alpha 1. "Its own" follows the surface across seams:
  the real pixels reached from the layer without crossing a depth edge, within the
  reach, count as its own if nearer, and lend their colour if farther, so the parts of
  a cut slope continue one another behind an occluder. The farthest layer is opaque
  everywhere;
* its disparity, extended over its whole box from the nearest own pixel (so every
  object keeps its own disparity around it) and kept as block means on a
  `FIELD_STEP`-pixel grid, from which the renderer solves its warp on that grid.
  A layer whose disparity varies by less than a quarter pixel of motion is stored as
  one constant disparity and warped as a single affine image.

Inpainting and the Voronoi split run on a coarser grid for large canvases; each
layer is stored cropped to its box, and the boxes together may cover at most
`LAYER_BUDGET` canvases and `LAYER_BUDGET_PIXELS` pixels (the least useful thresholds
are dropped otherwise), which bounds memory (4 bytes per box pixel).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from parallax_pipeline.engine.parallax import inpaint

DEPTH_EDGE = 0.03
"""Smallest disparity step across a 3x3 neighbourhood counted as a depth edge."""
EDGE_SHIFT_PX = 1.0
"""A step must also move its two sides this many pixels apart at the clip's reach."""
EDGE_GRAIN = 20.0
"""And it must stand this many times above the map's grain (`sharpen.map_grain`): grain
that spans a depth edge within a few pixels makes "edges" all over flat surfaces, and
the thresholds cut to separate them slice the surfaces into layers that tear along
grainy outlines (stereo-matched depth: on the photograph evaluation with grain of 0.03
a scene got 5 to 8 layers instead of 2 to 5). The grain estimate sees only the part of
the grain finer than a 5x5 median (a fifth of grain correlated over 2 px, all of grain
that is not), hence the large factor. On the photograph evaluation, grain 0.03: psnr
31.90 to 33.74 dB, disoccluded 20.83 to 21.24, SSIM 0.943 to 0.973; grain 0.02: 34.07
to 34.87 psnr, 21.77 to 21.99 disoccluded; uncorrelated grain of 0.03 (21.70 dB, SSIM
0.653, below both baselines) to 33.93 and 0.982; maps of low grain (the default set,
0.01) keep their thresholds (16 scores lower, 28 loses disoccluded pixels)."""
MAX_LAYERS = 10
"""Most layers a scene is cut into (each costs a warp per frame where it can land). With
eight, the cuts left out left depth edges inside layers of the demo forest and valley:
bites of up to 124 px (forest, dolly_zoom, last frames; a valley tree at the ends of
its pans) in frames the picture checks did not look at; with ten, none in nine frames
of every demo clip, for 0.8 to 1.5 ms more a 1080p frame."""
LARGE_MAX_LAYERS = 8
"""Most layers of a canvas over `THREADED_PIXELS` (a 2160p clip's): two more took the
valley's 10 s 2160p clip from 1436 to 1681 MB of peak memory, over the 1.5 GB limit
(`benchmarks/parallax_memory.py`)."""
MIN_EDGE_PIXELS = 24
"""Edge pixels a threshold must split to be worth a layer of its own."""
RIM_PX = 1
"""Pixels on each side of a depth edge whose colour is matted (near colour with its
coverage on the near layer, far colour on the far one): antialiased, resampled or
upscaled pictures mix the two sides over about this width."""
MIN_CONTRAST = 12.0
"""Colour distance (0-255 RGB) below which a rim pixel is not matted (near and far look
alike, so any coverage estimate would be noise): it keeps its hard label."""
SOLVED_COVERAGE = (0.5, 0.9)
"""Coverage over which a rim pixel's two colours go from the ones solved from the pixel
itself to the fills' (see `_rim_colours`): the far colour is solved up to the first
figure and the fill's from the second, the near colour the other way round."""
CONSTANT_PX = 0.25
"""A layer whose disparity span moves less than this many pixels at the clip's reach is
warped as one plane of constant disparity."""
WORK_PIXELS = 300_000
"""Canvases up to this many pixels are inpainted at their own size."""
LARGE_WORK_PIXELS = 200_000
"""Larger canvases are inpainted, and their hidden areas split, on a grid of about this
many pixels (both are smooth; the results are upsampled)."""
LAYER_BUDGET = 10.0
"""The layers' boxes may add up to this many canvases (memory: 4 bytes per box pixel);
the least useful thresholds are dropped until they fit. As many as `MAX_LAYERS` whole
canvases: a dropped threshold leaves depth edges inside a layer, where the block-mean
disparity smears the near side into the far one and the warp bites into silhouettes
(issue #17: tree trunks against the ground beside their bases), so only canvases too
large for `LAYER_BUDGET_PIXELS` may lose one."""
LAYER_BUDGET_PIXELS = 64_000_000
"""And at most this many box pixels in all (256 MB of RGBA): a 2160p clip's canvas
(about 10 MP) gets six canvases' worth, which keeps its peak memory under 1.5 GB; up to
1440p every scene keeps all its cuts."""
FIELD_STEP = 8
"""A layer's disparity is kept per block of this many pixels: the warp is smooth inside
a layer, so the renderer solves it on this grid and interpolates."""
BINS = 256
THREADED_PIXELS = 4_500_000
"""Canvases up to this size (a 1080p clip's is about 2.8 MP with overscan) fill
`FILL_WORKERS` layers at a time; larger ones one at a time, to bound memory."""
FILL_WORKERS = max(2, min(4, os.cpu_count() or 1))
"""Layers filled at once on a canvas up to `THREADED_PIXELS`: two even on one or two
cores (OpenCV and numpy release the GIL, and one fill's Python overlaps the other's
arrays), up to four where there are cores for them (a GPU machine, where the
preparation is most of a clip's time: 0.6 s of 1.9 s on an H100 with two)."""


@dataclass
class Layer:
    """One depth layer on the canvas, cropped to its box.

    ``x0, y0``: the box's top-left corner in canvas pixels. ``rgba``: premultiplied
    colour and alpha, uint8 hxwx4. ``fields``: float32 (ceil(h/8), ceil(w/8)), the
    layer's disparity averaged over `FIELD_STEP`-pixel blocks (block (i, j) centred on
    box pixel (8j + 3.5, 8i + 3.5)), defined over the whole box, also where alpha is 0;
    None for a plane layer, whose disparity is ``constant``. ``d_lo``, ``d_hi``: the disparity range where alpha > 0.
    ``support``: (x0, y0, x1, y1) canvas box of alpha > 0. ``opaque``: the farthest
    layer, alpha 255 everywhere.
    """

    x0: int
    y0: int
    rgba: np.ndarray
    fields: np.ndarray | None
    constant: float | None
    d_lo: float
    d_hi: float
    support: tuple[int, int, int, int]
    opaque: bool

    @property
    def nbytes(self) -> int:
        return self.rgba.nbytes + (self.fields.nbytes if self.fields is not None else 0)


@dataclass
class LayeredScene:
    """The layers of one canvas, far (index 0, opaque) to near, and the thresholds
    between them (``thresholds[i]`` separates layer i from layer i + 1)."""

    width: int
    height: int
    layers: list[Layer]
    thresholds: tuple[float, ...]

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)


# ---- depth edges and thresholds --------------------------------------------------


def edge_threshold(reach: float, grain: float = 0.0) -> float:
    """The disparity step that counts as a depth edge for a clip of this reach (px), on a
    map with this grain (`sharpen.map_grain`; 0 for an exact map)."""
    return max(DEPTH_EDGE, EDGE_SHIFT_PX / max(reach, 1e-6), EDGE_GRAIN * grain)


def choose_thresholds(
    far: np.ndarray,
    near: np.ndarray,
    disparity: np.ndarray,
    max_layers: int = MAX_LAYERS,
    weights: np.ndarray | None = None,
) -> list[float]:
    """Disparity thresholds that split the given edges (greedy; see the module docstring).

    ``far``/``near``: the two sides' disparities of each edge pixel (``weights``: how
    many canvas pixels each stands for, default 1); ``disparity``: the image's
    disparities (their histogram places each threshold where it cuts the fewest pixels).
    Returns at most ``max_layers − 1`` values strictly inside (0, 1), the most useful
    first (sort them before use).
    """
    step = max(1, disparity.size // 200_000)  # a subsample is plenty for a histogram
    quantised = np.clip((disparity[::step] * BINS).astype(np.int64), 0, BINS - 1)
    density = np.bincount(quantised, minlength=BINS).astype(np.float64)
    density = np.convolve(density, np.ones(3) / 3.0, mode="same")
    # candidate t_i = (i + 0.5) / BINS splits an edge when far < t_i < near
    lo = np.clip(np.ceil(far * BINS - 0.5), 0, BINS).astype(np.int64)
    hi = np.clip(np.ceil(near * BINS - 0.5), 0, BINS).astype(np.int64)  # first index not below near
    weight = np.ones(lo.size) if weights is None else np.asarray(weights, np.float64)
    useful = hi > lo
    lo, hi, weight = lo[useful], hi[useful], weight[useful]
    chosen: list[float] = []
    while weight.sum() >= MIN_EDGE_PIXELS and len(chosen) < max_layers - 1:
        # edges split by candidate i: those with lo <= i < hi (a running sum of +w/-w)
        score = np.cumsum(
            np.bincount(lo, weight, minlength=BINS + 1) - np.bincount(hi, weight, minlength=BINS + 1)
        )[:BINS]
        best = float(score.max())
        if best < MIN_EDGE_PIXELS:
            break
        candidates = np.nonzero(score >= 0.9 * best)[0]
        thin = candidates[density[candidates] <= density[candidates].min() + 1e-9]
        index = int(thin[len(thin) // 2])
        chosen.append((index + 0.5) / BINS)  # in order of usefulness
        keep = ~((lo <= index) & (hi > index))
        lo, hi, weight = lo[keep], hi[keep], weight[keep]
    return chosen


def merge_slivers(labels: np.ndarray, disparity: np.ndarray, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and disparity with the in-between rims of depth edges given to a side.

    A resized or estimated depth map ramps across an edge; a threshold between the two
    sides' disparities can leave the ramp's pixels as a sliver of a middle layer, which
    would move at a speed of its own, peel away from both sides and show as a thin line.
    A pixel on a depth edge whose layer is narrower than 3 px there (it vanishes under a
    3x3 opening) and which has a nearer and a farther layer within 5x5 joins whichever
    side its disparity is closer to, and takes that side's disparity. Its colour is
    matted between the two sides anyway; structures 3 px or wider keep their layer."""
    square, wide = np.ones((3, 3), np.uint8), np.ones((5, 5), np.uint8)
    sliver = np.zeros(labels.shape, bool)
    for k in np.unique(labels[edge]):
        mine = (labels == k).astype(np.uint8)
        sliver |= (mine > cv2.morphologyEx(mine, cv2.MORPH_OPEN, square)) & edge
    if not sliver.any():
        return labels, disparity
    above, below = cv2.dilate(labels, wide), cv2.erode(labels, wide)
    rim = sliver & (above > labels) & (below < labels)
    if not rim.any():
        return labels, disparity
    far, near = cv2.erode(disparity, wide), cv2.dilate(disparity, wide)
    to_near = (near - disparity) < (disparity - far)
    labels, disparity = labels.copy(), disparity.copy()
    labels[rim] = np.where(to_near, above, below)[rim]
    disparity[rim] = np.where(to_near, near, far)[rim]
    return labels, disparity


def depth_edges(disparity: np.ndarray, known: np.ndarray, threshold: float) -> np.ndarray:
    """Known pixels whose 3x3 neighbourhood spans more disparity than ``threshold`` (the
    clip's `edge_threshold`: what its reach lets through without a visible tear)."""
    square = np.ones((3, 3), np.uint8)
    spread = cv2.dilate(disparity, square) - cv2.erode(disparity, square)
    return (spread > threshold) & known


def depth_conflicts(
    disparity: np.ndarray, known: np.ndarray, reach: float, factor: float, edge: np.ndarray, tau: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (far, near, weight) disparity pairs a layer cut must separate.

    Two surfaces must lie in different layers when the clip can bring the nearer one over
    the farther: when they touch at a depth edge, or when they lie ``r`` pixels apart
    with a disparity difference that moves them at least ``r`` pixels towards each other
    (``difference · reach ≥ r``). At a depth edge (3x3) the pair is the smallest and
    largest disparity within 5x5; at each scale r = 2, 4, 8, … up to the reach, each pixel
    and the nearest surface within r pixels (a dilation), on a grid ``factor`` times
    coarser (each pixel there weighs factor²). ``tau``: the depth edge
    (`edge_threshold`), the least difference that counts at any scale.
    """
    pairs = []
    square = np.ones((3, 3), np.uint8)
    # an edge pixel pairs the extremes of its 5x5 neighbourhood: across a resampled edge
    # with a one-pixel rim of in-between disparity that is still the far and near side,
    # so the rim is cut with its edge instead of becoming a layer of its own
    wide = np.ones((5, 5), np.uint8)
    pairs.append((cv2.erode(disparity, wide)[edge], cv2.dilate(disparity, wide)[edge], np.ones(int(edge.sum()))))
    h, w = disparity.shape
    # rim pixels (on a 3x3 edge, often of an in-between disparity) are paired above;
    # pairing them again with the surface next to them would cut them into layers of
    # their own, so the wider scales look at surfaces only
    surface = known & ~cv2.dilate(edge.astype(np.uint8), square).astype(bool)
    if factor > 1.0:
        size = (max(2, round(w / factor)), max(2, round(h / factor)))
        small = cv2.resize(disparity, size, interpolation=cv2.INTER_AREA)
        small_known = cv2.resize(surface.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 254
    else:
        small, small_known = disparity, surface
    radius = 2
    while radius <= reach:
        side = 2 * max(1, round(radius / factor)) + 1
        kernel = np.ones((side, side), np.uint8)
        near = cv2.dilate(small, kernel)  # the nearest surface within the radius
        span = near - small
        # the nearest surface lies between radius/2 and radius away (or nearer, seen at a
        # smaller scale): count the pair if it could close half the radius
        meet = small_known & (span > tau) & (span * reach >= radius / 2)
        pairs.append((small[meet], near[meet], np.full(int(meet.sum()), factor * factor)))
        radius *= 2
    return tuple(np.concatenate(parts) for parts in zip(*pairs))


# ---- building ---------------------------------------------------------------------


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _grow(box, pad: int, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)


def _voronoi_share(
    labels: np.ndarray, known: np.ndarray, disparity: np.ndarray, k: int, reach: float
) -> np.ndarray:
    """Hidden pixels that layer ``k`` continues behind: those labelled nearer than ``k``
    or outside the picture whose nearest visible pixel of layers 0..k belongs to ``k``
    (a Voronoi split of the hidden area between the layers behind), and only as far as
    the clip can uncover them: the motion of the occluder relative to layer ``k``
    (``reach`` times their disparity difference), or layer ``k``'s own motion outside
    the picture, plus two pixels."""
    visible = known & (labels <= k)
    hidden = ~visible
    if not visible.any() or not hidden.any():
        return np.zeros_like(hidden)
    dist, nearest = cv2.distanceTransformWithLabels(
        hidden.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    size = int(nearest.max()) + 1
    owner = np.zeros(size, np.uint8)
    owner[nearest[visible]] = labels[visible]
    behind = np.zeros(size, np.float32)
    behind[nearest[visible]] = disparity[visible]
    source_d = behind[nearest]
    uncover = np.where(known, disparity - source_d, source_d)  # occluder's relative, or own, motion
    return hidden & (owner[nearest] == k) & (dist <= reach * np.maximum(uncover, 0.0) + 2.0)


COLOUR_EDGE = 3.0
"""Colour change (0-255 levels a pixel of the grid it is looked for on, the picture
smoothed by a Gaussian of 1.5 of those pixels) that marks where an object meets the
surface it stands on at the same depth (no depth edge there): a surface's inpainting
takes no colour across it from nearer layers. Low, for mist: at 8 a pale trunk in the
demo forest's fog passed for ground and left a trunk-coloured wedge beside its foot.
Texture stops some paths too, which only leaves those parts as they were before paths
were followed (2 to 8 score within 0.02 dB on the photograph evaluation)."""


def colour_edges(image: np.ndarray) -> np.ndarray:
    """Where the picture's (uint8 RGB) colour changes by more than `COLOUR_EDGE` a
    pixel in some channel (bool HxW, a pixel wider each side)."""
    smoothed = cv2.GaussianBlur(image, (0, 0), 1.5)
    steps = [  # Sobel weighs a pixel's step 8 times
        cv2.max(cv2.convertScaleAbs(cv2.Sobel(c, cv2.CV_16S, 1, 0), alpha=0.125),
                cv2.convertScaleAbs(cv2.Sobel(c, cv2.CV_16S, 0, 1), alpha=0.125))
        for c in cv2.split(smoothed)
    ]
    step = cv2.max(cv2.max(steps[0], steps[1]), steps[2])
    return cv2.dilate((step > COLOUR_EDGE).view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)


def _along_surface(start: np.ndarray, passable: np.ndarray, distance: float) -> np.ndarray:
    """The ``passable`` pixels within ``distance`` px of ``start`` along paths of 3x3
    steps that stay inside ``passable`` (bool masks; ``start`` itself is kept)."""
    grow = start.astype(np.uint8)
    allowed = (passable | start).astype(np.uint8)
    square = np.ones((3, 3), np.uint8)
    for _ in range(math.ceil(distance)):
        grown = cv2.bitwise_and(cv2.dilate(grow, square), allowed)
        if np.array_equal(grown, grow):
            break
        grow = grown
    return grow.astype(bool)


def _extend_disparity(disparity: np.ndarray, known: np.ndarray, blur: float) -> np.ndarray:
    """Disparity of the ``known`` pixels carried to every other pixel from the nearest
    known one, then smoothed by ``blur`` (px): around each object of a layer the field
    keeps that object's own disparity, so its block means do too (a smooth fill would
    slide the disparity of a thin pole towards that of a far-away object)."""
    if known.all() or not known.any():
        return disparity.copy()
    _, nearest = cv2.distanceTransformWithLabels(
        (~known).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    lut = np.zeros(int(nearest.max()) + 1, np.float32)
    lut[nearest[known]] = disparity[known]
    extended = lut[nearest]
    if blur > 0:
        extended = cv2.GaussianBlur(extended, (0, 0), blur)
    return extended


def _shrink(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``values`` averaged down to ``size`` = (width, height) (INTER_AREA), by a whole
    step first: OpenCV averages whole steps several times faster than fractional ones
    (a 1080p layer box's colour shrunk by 3.75: 14 ms, against 4.4 ms by 3 and 2.5 ms
    for the rest; the ten layers' fills of a 1080p clip spent 286 ms of CPU shrinking,
    now 139). The last rows and columns that do not fill a step (fewer than the step)
    are left out: the fill they feed is smooth over several work pixels."""
    h, w = values.shape[:2]
    step = int(min(w / size[0], h / size[1]))
    if step >= 2:
        values = cv2.resize(values[: h - h % step, : w - w % step], (w // step, h // step), interpolation=cv2.INTER_AREA)
    return cv2.resize(values, size, interpolation=cv2.INTER_AREA)


def _fill_layer(
    image: np.ndarray, disparity: np.ndarray, source: np.ndarray, box, factor: float, colour_source=None
) -> tuple[np.ndarray, np.ndarray]:
    """Colour (uint8 RGB) and disparity (float32) of one layer over ``box``: its
    ``source`` pixels as they are; elsewhere the colour inpainted from them, or from the
    wider ``colour_source`` where given (`inpaint.harmonic`), and the disparity extended from the
    nearest ``source`` pixel, both at 1/``factor`` of the size, then upsampled."""
    x0, y0, x1, y1 = box
    region = (slice(y0, y1), slice(x0, x1))
    mask = np.ascontiguousarray(source[region], dtype=np.uint8)
    colour_mask = mask if colour_source is None else np.ascontiguousarray(colour_source[region], dtype=np.uint8)
    rgb, d = image[region], disparity[region]
    bw, bh = x1 - x0, y1 - y0
    size = (max(2, round(bw / factor)), max(2, round(bh / factor)))
    blur = FIELD_STEP / 2.0
    if factor > 1.0 and size[0] < bw and size[1] < bh:
        # weighted downsampling: a work pixel averages only source pixels, so no colour
        # from outside the source (a nearer object's rim) leaks into the fill
        full_weight = mask.astype(np.float32)
        weight = _shrink(full_weight, size)
        small_d = _shrink(cv2.multiply(d, full_weight), size)
        del full_weight  # 44 MB on a 4K canvas
        depth = _extend_disparity(small_d * (1.0 / np.maximum(weight, 1e-6)), weight >= 0.5, blur / factor)
        depth = cv2.resize(depth, (bw, bh), interpolation=cv2.INTER_LINEAR)
        if colour_mask is not mask:
            weight = _shrink(colour_mask.astype(np.float32), size)
        small_rgb = _shrink(cv2.copyTo(rgb, colour_mask), size)
        colour_in = small_rgb.astype(np.float32) * (1.0 / np.maximum(weight, 1e-6))[:, :, None]
        filled = inpaint.harmonic(colour_in, weight)
        colour = cv2.resize(cv2.convertScaleAbs(filled), (bw, bh), interpolation=cv2.INTER_LINEAR)
    else:
        filled = inpaint.harmonic(rgb.astype(np.float32), colour_mask)
        colour = cv2.convertScaleAbs(filled)
        depth = _extend_disparity(d, mask > 0, blur)
    cv2.copyTo(rgb, colour_mask, colour)
    cv2.copyTo(d, mask, depth)
    return colour, depth


def _fields(depth: np.ndarray) -> np.ndarray:
    """Block means of a layer's disparity over `FIELD_STEP`-pixel blocks (float32, at
    least 2x2)."""
    h, w = depth.shape
    step = FIELD_STEP
    padded = cv2.copyMakeBorder(depth, 0, -h % step, 0, -w % step, cv2.BORDER_REPLICATE)
    blocks = cv2.resize(padded, (padded.shape[1] // step, padded.shape[0] // step), interpolation=cv2.INTER_AREA)
    if min(blocks.shape) < 2:
        blocks = cv2.copyMakeBorder(blocks, 0, max(0, 2 - blocks.shape[0]), 0, max(0, 2 - blocks.shape[1]), cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(blocks, dtype=np.float32)


def _digitize(disparity: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Layer index of each pixel: how many thresholds its disparity exceeds (uint8)."""
    labels = np.zeros(disparity.shape, np.uint8)
    for t in thresholds:
        labels += cv2.threshold(disparity, float(t), 1, cv2.THRESH_BINARY)[1].astype(np.uint8)
    return labels


def _layer_areas(labels: np.ndarray, count: int, pad: int) -> list[int]:
    """Rough box area of each layer: its pixels' bounding box grown by ``pad``."""
    h, w = labels.shape
    areas = []
    for k in range(count):
        box = _box(labels == k)
        if box is None:
            areas.append(0)
            continue
        x0, y0, x1, y1 = _grow(box, pad, w, h)
        areas.append((x1 - x0) * (y1 - y0))
    return areas


def _assemble(
    colour: np.ndarray, depth: np.ndarray, alpha: np.ndarray, x0: int, y0: int, reach: float, opaque: bool
) -> Layer:
    """A `Layer` from its box's colour (uint8 RGB), disparity and alpha (uint8)."""
    on = alpha > 0
    sx0, sy0, sx1, sy1 = _box(on)
    # premultiplied: colour where alpha is 255, black where it is 0 (rims come later)
    rgba = cv2.copyTo(cv2.cvtColor(colour, cv2.COLOR_RGB2RGBA), alpha)
    cv2.insertChannel(alpha, rgba, 3)
    d_lo, d_hi = (float(v) for v in cv2.minMaxLoc(depth, mask=on.view(np.uint8))[:2])
    constant = fields = None
    if (d_hi - d_lo) * reach < CONSTANT_PX:
        constant = float(cv2.mean(depth, mask=on.view(np.uint8))[0])
    else:
        fields = _fields(depth)
    return Layer(
        x0=x0,
        y0=y0,
        rgba=rgba,
        fields=fields,
        constant=constant,
        d_lo=d_lo,
        d_hi=d_hi,
        support=(sx0 + x0, sy0 + y0, sx1 + x0, sy1 + y0),
        opaque=opaque,
    )


def _rim_colours(
    colour: np.ndarray, near: np.ndarray, far: np.ndarray, coverage: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The near and far colours (float32 N x 3) that rim pixels of ``colour`` are matted
    into, given the fills' estimates ``near`` (F) and ``far`` (B) and the ``coverage``
    (α) of the near one.

    Both are solved from the pixel itself where that is well posed, so that the near
    layer over the far one gives the pixel back exactly: the far colour is
    (c − α·F) / (1 − α), kept within |c − B| of B (dividing by a small 1 − α would
    amplify any error in α or F: unbounded, it drew a dark line), and the near
    colour (c − (1 − α)·B) / α. Each gives way to the fill's as its divisor shrinks,
    over `SOLVED_COVERAGE`. The fills are smooth, so where the background is textured the
    solved far colour keeps its texture.

    Only where the rim covers the picture's mixing of the two sides, in a picture at its
    own size or reduced (`build_layers` keeps the fills' colours in an enlarged one).
    Enlarged, a picture mixes them over more than `RIM_PX`: the demo's coast at 720p
    (1.48 times) still has cliff colour 5 px out in the sea, and colours solved from
    the rim's own pixels carried that tint where the fills' are clean, widening the
    faint line that traces the cliff where it stood. Wider rims there made holes in
    thin near objects (the valley's tree: 75 to 280 px where the picture check allows
    50). Against the fills' colours throughout: shared
    bench psnr 47.94 to 48.20, edges 41.37 to 41.79, uncovered 32.48 to 32.46;
    photograph evaluation psnr 36.17 to 36.28, uncovered 22.71 to 22.76, SSIM 0.985 to
    0.986."""
    a = coverage[:, None]
    lo, hi = SOLVED_COVERAGE
    t = np.clip((a - lo) / (hi - lo), 0.0, 1.0)
    behind = (colour - a * near) / np.maximum(1.0 - a, 1e-3)
    spread = np.abs(colour - far)
    behind = np.clip(behind, far - spread, far + spread)
    front = np.clip((colour - (1.0 - a) * far) / np.maximum(a, 1e-3), 0.0, 255.0)
    return (1.0 - t) * near + t * front, (1.0 - t) * behind + t * far


def build_layers(
    image: np.ndarray,
    disparity: np.ndarray,
    known: np.ndarray,
    reach: float,
    edge: float | None = None,
    upscale: float = 1.0,
) -> LayeredScene:
    """Cut a canvas into depth layers with inpainted hidden parts (see the module docstring).

    ``image``: uint8 HxWx3 RGB canvas; ``disparity``: float32 HxW in [0, 1]; ``known``:
    bool HxW, False where the canvas lies outside the picture (to be inpainted like hidden
    background); ``reach``: the largest motion (canvas px) any surface makes in the clip,
    which sizes the edges that matter and how far hidden parts are inpainted; ``edge``:
    the smallest disparity step that counts (default `edge_threshold` of the reach, for
    an exact map); ``upscale``: how many times the canvas enlarges the picture (rim
    colours are solved from the pixels only in a picture at its own size or reduced,
    see `_rim_colours`).
    """
    h, w = disparity.shape
    reach = max(float(reach), 0.0)
    # small canvases (the bench's) are inpainted at full size; larger ones on a grid of
    # about WORK_PIXELS (a 1080p disocclusion is still 25 work pixels wide there)
    factor = 1.0 if w * h <= WORK_PIXELS else math.sqrt(w * h / LARGE_WORK_PIXELS)
    pad = int(math.ceil(reach)) + 2
    square = np.ones((3, 3), np.uint8)
    tau = edge_threshold(reach) if edge is None else float(edge)
    edge = depth_edges(disparity, known, tau)
    picked = []
    if reach > 0:
        far, near, weights = depth_conflicts(disparity, known, reach, factor, edge, tau)
        most = MAX_LAYERS if w * h <= THREADED_PIXELS else LARGE_MAX_LAYERS
        picked = choose_thresholds(far, near, disparity[known], max_layers=most, weights=weights)
    # the layers' boxes must fit the budget: drop the least useful thresholds until they do
    while True:
        thresholds = np.asarray(sorted(picked), np.float32)
        labels = _digitize(disparity, thresholds)
        if not picked or sum(_layer_areas(labels, len(picked) + 1, pad)) <= min(LAYER_BUDGET * w * h, LAYER_BUDGET_PIXELS):
            break
        picked = picked[:-1]
    present = [k for k in range(len(thresholds) + 1) if (known & (labels == k)).any()] or [0]
    relabel = np.zeros(len(thresholds) + 1, np.uint8)
    relabel[present] = np.arange(len(present), dtype=np.uint8)
    labels = relabel[labels]
    count = len(present)
    kept = tuple(float(thresholds[k - 1]) for k in present[1:])
    labels, disparity = merge_slivers(labels, disparity, edge)

    # the rim of every depth edge between two layers (matted below): its near layer is
    # the nearest label around it, its far layer its own label or the farthest around
    # (two pixels each side: resampled and upscaled pictures have rims that wide)
    wide = np.ones((2 * RIM_PX + 1, 2 * RIM_PX + 1), np.uint8)
    label_max, label_min = cv2.dilate(labels, wide), cv2.erode(labels, wide)
    band = cv2.dilate(edge.astype(np.uint8), wide).astype(bool) & known & (label_max != label_min)
    band_y, band_x = np.nonzero(band)
    band_label = labels[band_y, band_x]
    band_fg = label_max[band_y, band_x]
    band_bg = np.where(band_label < band_fg, band_label, label_min[band_y, band_x])
    # slopes that cross a threshold without an edge: both sides keep the real pixels
    continuous = known & ~cv2.dilate(edge.astype(np.uint8), square).astype(bool)
    near5 = np.ones((5, 5), np.uint8)
    if factor > 1.0:  # the Voronoi split runs at the work size
        small = (max(2, round(w / factor)), max(2, round(h / factor)))
        labels_s = cv2.resize(labels, small, interpolation=cv2.INTER_NEAREST)
        known_s = cv2.resize(known.astype(np.uint8) * 255, small, interpolation=cv2.INTER_AREA) > 127
        # sampled like the labels (a pixel's disparity must be that of its label's surface)
        disparity_s = cv2.resize(disparity, small, interpolation=cv2.INTER_NEAREST)
        # a coarse pixel is passable only where all of its pixels are: paths along the
        # surface never cross a thin depth edge
        passable_s = cv2.resize(continuous.view(np.uint8) * 255, small, interpolation=cv2.INTER_AREA) >= 255
        image_s = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    else:
        labels_s, known_s, disparity_s, passable_s, image_s = labels, known, disparity, continuous, image
    # and where a colour edge crosses a surface without a depth edge, an object stands
    # on it: paths along the surface that carry nearer colour stop there
    smooth_s = passable_s & ~colour_edges(image_s)

    # the rims' coverage, which needs both sides' colours, is written in afterwards
    fg_colour = np.zeros((band_y.size, 3), np.float32)
    bg_colour = np.zeros((band_y.size, 3), np.float32)

    def along_surface(k: int, paths_s: np.ndarray) -> np.ndarray:
        """The `continuous` pixels reached from layer ``k`` along ``paths_s`` (a mask of
        the work grid) within the pad (`_along_surface`)."""
        reached = _along_surface((labels_s == k) & paths_s, paths_s, pad / factor)
        if factor > 1.0:
            reached = cv2.resize(reached.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
        else:
            reached = reached.copy()
        reached &= continuous  # in place, as below: a 4K canvas's masks are 11 MB each
        return reached

    def make_layer(k: int) -> Layer | None:
        own = known & (labels == k)
        if k == 0:
            alpha = np.full((h, w), 255, np.uint8)
            box = (0, 0, w, h)
        else:
            alpha = (own & ~band).astype(np.uint8) * 255
            share = _voronoi_share(labels_s, known_s, disparity_s, k, reach / factor).astype(np.uint8)
            if factor > 1.0:
                share = cv2.resize(share, (w, h), interpolation=cv2.INTER_NEAREST)
                # the coarse split can miss the first hidden rows next to the layer (a
                # seam or rim must never open, so those always belong to it) and leave
                # pixel-wide cracks where its cells meet behind a thin occluder
                share |= cv2.dilate(own.astype(np.uint8), near5)
                share = cv2.morphologyEx(share, cv2.MORPH_CLOSE, near5)
            alpha[(share > 0) & ~(known & (labels <= k))] = 255
            alpha[band_y[band_bg == k], band_x[band_bg == k]] = 255
            alpha[band_y[band_fg == k], band_x[band_fg == k]] = 255  # its coverage comes below
            support = _box(alpha > 0)
            if support is None:
                return None
            box = _grow(support, pad, w, h)
        seam = continuous & (labels > k) & cv2.dilate(own.astype(np.uint8), near5).astype(bool)
        # a slope cut by thresholds (a ground cut into bands by the trees standing on
        # it) is one surface: behind a near occluder this layer's hidden part reaches
        # into the rows of the bands beside it, and inpainted from its own band alone
        # it carried that band's shade there (light patches with stepped edges beside
        # the forest's thin trunk). Along the surface, as far as the clip's reach, the
        # nearer bands' real pixels count as its own (colour and disparity) unless a
        # colour edge lies between (a post is as near as the sand at its foot, and its
        # colour must not fill the sand behind it), the farther ones' lend their colour
        # only (their disparity would drag the layer's rim)
        nearer = labels > k
        nearer &= along_surface(k, smooth_s)
        seam |= nearer
        del nearer
        source = (own & ~band) | seam
        if not source.any():
            source = own
        colour_source = None
        if k > 0:
            colour_source = labels < k
            colour_source &= along_surface(k, passable_s)
            colour_source[band] = False
            colour_source |= source
        colour, depth = _fill_layer(image, disparity, source, box, factor, colour_source)
        x0, y0, x1, y1 = box
        for sel, out in ((band_fg == k, fg_colour), (band_bg == k, bg_colour)):
            if sel.any():  # rows of this layer's rim pixels only: layers never share one
                out[sel] = colour[band_y[sel] - y0, band_x[sel] - x0]
        return _assemble(colour, depth, np.ascontiguousarray(alpha[y0:y1, x0:x1]), x0, y0, reach, opaque=k == 0)

    # each layer is assembled as soon as it is filled (only its RGBA and block disparity
    # are kept, so a 4K clip never holds every layer's full-size float maps at once);
    workers = min(FILL_WORKERS, count) if w * h <= THREADED_PIXELS else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        made = [(k, layer) for k, layer in enumerate(pool.map(make_layer, range(count))) if layer is not None]

    # matting of the rims: coverage of the near colour F over the far colour B
    if band_y.size:
        c = image[band_y, band_x].astype(np.float32)
        diff = fg_colour - bg_colour
        contrast = (diff * diff).sum(axis=1)
        coverage = ((c - bg_colour) * diff).sum(axis=1) / np.maximum(contrast, 1e-6)
        hard = (band_label == band_fg).astype(np.float32)
        coverage = np.where(contrast >= MIN_CONTRAST**2, np.clip(coverage, 0.0, 1.0), hard)
        # an enlarged picture keeps the fills' colours (see `_rim_colours`)
        near, far = _rim_colours(c, fg_colour, bg_colour, coverage) if upscale <= 1.0 else (fg_colour, bg_colour)
        for k, layer in made:
            sel = band_fg == k
            if k > 0 and sel.any():  # premultiplied: the pure near colour times its coverage
                ys, xs = band_y[sel] - layer.y0, band_x[sel] - layer.x0
                a = coverage[sel][:, None]
                layer.rgba[ys, xs, :3] = np.clip(np.round(near[sel] * a), 0, 255).astype(np.uint8)
                layer.rgba[ys, xs, 3] = np.round(coverage[sel] * 255.0).astype(np.uint8)
            sel = band_bg == k
            if sel.any():  # opaque, behind the near layer's coverage
                ys, xs = band_y[sel] - layer.y0, band_x[sel] - layer.x0
                layer.rgba[ys, xs, :3] = np.clip(np.round(far[sel]), 0, 255).astype(np.uint8)
    layers = [layer for _, layer in made]
    return LayeredScene(width=w, height=h, layers=layers, thresholds=kept)
