"""Depth steps put back on the picture's own edges, before the picture is cut into layers.

Depth from a photograph is soft and noisy: a depth estimator or a stereo matcher smears
every step over a window of several pixels, and adds grain. Cut into layers as it is,
such a map puts the cut somewhere inside the ramp, a few pixels off the object's real
outline, so the near layer carries a fringe of background colour with it (a halo that
slides over the background) or leaves a strip of its own colour behind (which the
background's inpainting then continues into every disocclusion), and the grain makes
spurious small edges everywhere.

`sharpen_disparity` first removes the grain with a 3x3 median (only where it changes a
pixel by less than half a depth edge, or by a few times the grain of a map whose grain
spans an edge, `GRAIN_CLEAN`: steps and corners stay), then gives every pixel of
a ramp one side of its step. A ramp pixel lies strictly between its 3x3 neighbours near
a step (the disparity spans more than the clip's depth edge within `RAMP_PX`): a ramp,
not a surface of middle depth next to a step, and a step, not a slope (a slope spans
twice as much disparity in a window twice as wide; a step's ramp ends in plateaus, and
spans about as much). Which side it takes is decided by two pieces of evidence, and it
then takes that side's disparity:

* where it sits in the ramp: a step blurred by a symmetric window (an estimator's
  receptive field, a matcher's window) has its real outline at the middle of the ramp,
  so a pixel above the middle is near and one below is far. This decides the whole ramp,
  its tails included: a tail left with an in-between disparity is cut by whichever
  threshold the layers choose, which is rarely the middle (on the photograph evaluation,
  deciding only the middle 60 % of the ramp, as before, loses 1.7 dB on disoccluded
  pixels);
* its colour: closer to the near plateau's mean colour around it, or to the far one's.
  A ramp that the estimator shifted off the object's outline is put back by colour, but
  colour counts only as far as it is reliable: the two sides' mean colours must differ
  by more than the colours vary within each side. On flat colours it decides; on
  photographic texture (where a pixel is often closer to the other side's mean) it
  barely counts. On the photograph evaluation it costs 0.3 dB psnr (0.01 dB on
  disoccluded pixels) when the measured steps are centred on the outlines, and is worth
  1.0 dB psnr and 1.4 dB disoccluded when they sit 2 px off (``--depth-shift 2,1``).

Grain strong enough to span a depth edge within a window (stereo matching's, say) would
make ramps of its own all over flat surfaces, and deciding them turns the grain into
steps of a whole edge that the layers then cut along. So a ramp must also span
`GRAIN_SPAN` times the map's grain, measured once per map (`_grain`). On the photograph
evaluation this takes grain of 0.02 from 30.99 to 34.16 dB psnr and SSIM from 0.911
(below the baseline's) to 0.973, grain of 0.03 from 27.75 (below the baseline) to
32.01 and SSIM 0.843 to 0.943, and the default set (grain 0.01, where it binds in some
scenes) from 35.75 to 36.15 psnr, 22.62 to 22.66 disoccluded and SSIM 0.981 to 0.985.

An estimator with a wider window blurs its steps over more than `RAMP_PX`; within that
window such a step spans less than `STEP_SHARE` of what it spans in twice it and passed
for a slope. The window therefore follows the map's own step blur, measured where
clear steps rise fastest (`_ramp_width`): on the photograph evaluation with depth
blurred by 5 px this takes psnr_disoccluded from 20.40 to 20.87 (4 px: 21.49 to 21.80),
and leaves the 3 px sets as they were.

A thin near structure (a pole, a wire, a branch a few pixels wide) loses more than its
outline: the window that blurred it is wider than it, so its disparity peaks at only
40-80 % of its step, and the ramp's top gives it that peak (it moves too little, and the
background it uncovers shows it again). `_restore_thin_structures` then gives such
structures their height back. They are what stands more than a depth edge above the map
opened with a `THIN_PX` square, with no wider nearer surface within `RAMP_PX` (a
wedge's tip belongs to its body), in pieces at least `THIN_LENGTH` long: the grain of a
measured map leaves specks above such an opening all over flat surfaces and along the
edges of wide ones, and raising or cutting those notches the edges. A blur moves
disparity but keeps its sum, so the volume the measured map has above the surface
behind (the map opened with the ramp window), over the window twice as wide, shared by
the pixels that stand above that surface, is their height (at most `LIFT_CAP` times what they had, and only where that
is `MIN_GAIN` more). A pixel whose measured disparity rises less than `THIN_EDGE` of
that height (less where its colour votes far) lies outside the structure, which then
shares the volume over fewer pixels: the ramp's middle is wider than a ridge. An exact
map's ridge keeps its height (its volume over its area), and so, about, does a blurred
ridge without colour evidence of its outline (it could be a wider one of middle depth).

On the photograph evaluation (seed 0, 6 scenes) this takes psnr_disoccluded from 21.66
to 22.56 dB (the exact disparity gives 23.2), psnr from 34.24 to 35.73 and SSIM from
0.978 to 0.982; on 12 scenes 21.70 to 22.42 disoccluded, with ``--depth-shift 2,1``
21.40 to 22.06, on seed 7 23.44 to 23.42 (psnr 37.00 to 37.23). Without the tip rule
seed 7 loses 0.5 dB disoccluded; a second narrowing pass, colour that also widens a
structure, and a volume taken against the local mean (or the opening's bias removed)
did not pay. Keeping only pieces `THIN_LENGTH` long (before, every speck above the
opening counted: about 3,000 pixels of each evaluation scene were cut or raised, most of
them grain, and an edge so notched cost one view 0.9 dB) then takes the disoccluded
figures to 22.62 (seed 0), 22.45 (12 scenes), 22.09 (shifted) and 23.46 (seed 7), each
0.02 to 0.04 dB up, psnr 0.02 to 0.03 dB up. It costs about 0.02 s of a 1080p clip's
preparation: it works on a 16-bit copy, and past finding the thin pixels only around
them.

An exact map with hard steps (the quality bench's) has no pixel in between, so it
passes unchanged, except where three layers meet: a pixel of the middle one with a
nearer and a farther neighbour is given to one of them.
"""

from __future__ import annotations

import cv2
import numpy as np

RAMP_PX = 6
"""Half-width (px) of the window a ramp is looked for in, at least: estimators and
stereo smear a step over about this much. A map whose steps are wider gets a wider
window (`_ramp_width`), up to `MAX_RAMP_PX`."""
MAX_RAMP_PX = 16
"""The widest ramp window's half-width (px): what an estimator blurs more than this (σ
over 8 px) keeps its ramps as they are."""
RAMP_SIGMAS = 2.0
"""The ramp window's half-width in units of the map's step blur (a Gaussian's σ, as
`_ramp_width` measures it): ±2σ holds 95 % of a blurred step's rise (1.5 and 2.5
score lower on the photograph evaluation)."""
PLATEAU = 0.2
"""A pixel within this fraction of the step's span from its top (bottom) is on the near
(far) plateau: those give the two sides' colours."""
COLOUR_NOISE = 8.0
"""Colour differences (0-255 RGB) this small are no evidence: a picture's noise and
compression, and the rounding of the coarse grid the sides' colours are averaged on."""
STEP_SHARE = 0.6
"""A ramp is part of a step when it spans at least this share of the disparity that the
window twice as wide spans (a blurred step about 0.95, a straight slope 0.5)."""
GRAIN_SPAN = 35.0
"""A ramp must span at least this many times the map's grain (`_grain`) as well as a
depth edge: a grainy flat surface spans a depth edge in a `RAMP_PX` window here and
there, and deciding those "ramps" turns the grain into steps of a whole edge, which
the layers then cut along (a tenth of the pixels of a flat surface whose grain is a
third of a depth edge, in `tests/engine/parallax/test_sharpen.py`). The grain estimate sees only the part of the grain finer
than a 5x5 median, hence the large factor (30 to 40 score alike; 20 decides too much,
50 and more too little of the real steps)."""
GRAIN_CLEAN = 6.0
"""A map whose grain (`_grain`, measured before the first step) times this spans more
than a depth edge is grainy: its 3x3 median may move a pixel by up to that much, not
only by half an edge, and runs twice. A matcher without window aggregation leaves
grain of independent pixels; held to half an edge, the median left most of it and its
strays, the edge threshold measured too little grain, and the layers were cut along
the strays. One 3x3 median leaves about 40 % of such grain. On the photograph
evaluation, uncorrelated grain of 0.03: psnr 34.02 to 35.85 dB, psnr_disoccluded 20.36
to 22.16, SSIM 0.982 to 0.985; of 0.02: 34.65 to 36.31 and 21.10 to 22.59; of 0.01:
36.32 to 36.43 and 22.66 to 22.76. Grain correlated over a few pixels (the default
sets) stays under the bar but in 3 of the 30 views of grain 0.03 (34.02 / 21.48 to
34.01 / 21.53): a median does not take it out, and with the bar at half an edge,
cleaning more of it twice cost up to 0.1 dB on disoccluded pixels. 3 and 4 times (with the bar at half an edge) let strays
through (uncorrelated 0.03: 31.2 and 35.4 dB psnr), 5 to 8 score alike; a third median
scores lower at 0.01 and 0.02."""
COLOUR_WEIGHT = 0.5
"""How far fully reliable colour evidence moves the decision, in units of the ramp's
span: 0.5 lets colour overrule the position anywhere in the ramp when the two sides'
colours are flat and distinct."""
THIN_PX = 9
"""A near structure that a square this wide (px) does not fit in is thin: a pole, a wire,
a branch. Blurred, its disparity never reaches its plateau."""
LIFT_CAP = 3.0
"""A thin structure is raised to at most this many times its blurred height above the
surface behind it (a 3 px pole blurred over `RAMP_PX` keeps about 40 % of its step)."""
MIN_GAIN = 0.1
"""A thin structure is raised only where its volume asks for at least this share more
than its height: the opening that finds the surface behind follows the grain's troughs,
which alone would raise an exact, grainy pole by a few percent."""
THIN_EDGE = 0.3
"""A thin structure's pixel whose measured disparity rises less than this share of the
structure's restored height above the surface behind it (less colour evidence, which
only narrows) is outside it: a blurred ridge's half-height is wider than the ridge."""
THIN_LENGTH = 2 * THIN_PX
"""Pixels (the longer side of its bounding box) a connected piece of thin pixels must
span to be a structure: poles and wires are long, the specks a depth map's grain leaves
above the opening are not (on the photograph evaluation 2 to 3 `THIN_PX` score alike,
4 less)."""


def sharpen_disparity(
    image: np.ndarray, disparity: np.ndarray, known: np.ndarray, edge: float, grainy: float | None = None
) -> np.ndarray:
    """``disparity`` (float32 HxW in [0, 1]) with its grain removed and the ramps of its
    steps given to one side each (see the module docstring); ``image``: uint8 HxWx3;
    ``known``: the pixels that hold the picture (the others keep their values);
    ``edge``: the smallest disparity step that counts (`layers.edge_threshold`);
    ``grainy``: `grainy_limit` of the map (default: judged against ``edge``): pass the
    one `map_grain` was given, so that the map is cleaned as its grain was measured. A
    new array."""
    if grainy is None:
        grainy = grainy_limit(disparity, known, edge)
    d = _without_fine_grain(disparity, edge, grainy)
    side = 2 * _ramp_width(d, known, edge) + 1
    square = np.ones((side, side), np.uint8)
    top, bottom = cv2.dilate(d, square), cv2.erode(d, square)
    span = top - bottom
    # a ramp pixel lies strictly between its 3x3 neighbours; on a hard step every pixel
    # is the nearest or farthest of its neighbourhood, and so is a surface of middle
    # depth next to one, which must keep its own disparity
    eps = np.float32(edge / 8.0)
    small = np.ones((3, 3), np.uint8)
    between = (d > cv2.erode(d, small) + eps) & (d < cv2.dilate(d, small) - eps)
    # a step's ramp ends in plateaus: the disparity spans about as much within RAMP_PX as
    # within twice that; a slope (a receding wall or ground) spans twice as much, and is
    # left as it is instead of being cut into terraces
    step = span > STEP_SHARE * (cv2.dilate(top, square) - cv2.erode(bottom, square))  # a window 2·side − 1 wide
    ramp = known & between & (span > max(edge, GRAIN_SPAN * _grain(d, known))) & step
    ys, xs = np.nonzero(ramp)
    if ys.size:
        top_r, bottom_r, span_r = top[ys, xs], bottom[ys, xs], span[ys, xs]
        position = (d[ys, xs] - bottom_r) / np.maximum(span_r, 1e-6) - 0.5  # > 0: near half
        near_side = known & (d >= top - PLATEAU * span)
        far_side = known & (d <= bottom + PLATEAU * span)
        colour_vote = _colour_vote(image, near_side, far_side, ys, xs)
        near = position + COLOUR_WEIGHT * colour_vote > 0
        measured = d
        d = d.copy()
        d[ys, xs] = np.where(near, top_r, bottom_r)
        d = _restore_thin_structures(measured, d, known, edge, (ys, xs, colour_vote))
    out = np.where(known, d, disparity)
    return np.ascontiguousarray(out, dtype=np.float32)


def grainy_limit(disparity: np.ndarray, known: np.ndarray, edge: float) -> float:
    """How far the first step's median may move a pixel of a grainy map: `GRAIN_CLEAN`
    times its grain (`_grain`, before any cleaning) where that spans more than a depth
    edge ``edge``; 0 for a map that is not grainy."""
    grain = GRAIN_CLEAN * _grain(np.ascontiguousarray(disparity, np.float32), known)
    return grain if grain > edge else 0.0


def _without_fine_grain(disparity: np.ndarray, edge: float, grainy: float) -> np.ndarray:
    """``disparity`` (float32) with a 3x3 median wherever that changes a pixel by less
    than half a depth edge ``edge``, or, on a grainy map (``grainy``, `grainy_limit`,
    above 0), twice, by less than ``grainy``: grain goes, steps and corners stay (on a
    grainy map, the corner pixels of steps smaller than that limit go too: grain as
    large cannot be told from them)."""
    d = np.ascontiguousarray(disparity, np.float32)
    passes, limit = (2, grainy) if grainy > 0 else (1, 0.5 * edge)
    for _ in range(passes):
        smooth = cv2.medianBlur(d, 3)
        d = np.where(np.abs(smooth - d) < limit, smooth, d)
    return d


def map_grain(disparity: np.ndarray, known: np.ndarray, edge: float, grainy: float | None = None) -> float:
    """The grain (`_grain`) a map keeps once `sharpen_disparity` has taken out the finest
    (its first step, with depth edges of ``edge`` and the map's `grainy_limit`, judged
    against ``edge`` unless given): what the layers' edge threshold must stand above
    (`layers.edge_threshold`). 0 for an exact map."""
    if grainy is None:
        grainy = grainy_limit(disparity, known, edge)
    return _grain(_without_fine_grain(disparity, edge, grainy), known)


def _ramp_width(disparity: np.ndarray, known: np.ndarray, edge: float) -> int:
    """Half-width (px) of the window ramps are looked for in: `RAMP_SIGMAS` times the
    map's step blur, within `RAMP_PX` … `MAX_RAMP_PX`. A step of height H blurred by a
    Gaussian of σ rises by H / (σ·√(2π)) a pixel at its middle, so σ is measured there:
    at the pixels half-way up clear steps (spanning four depth edges within
    `MAX_RAMP_PX`) where the gradient peaks well above its mean around (not a slope),
    the median of their span over their gradient·√(2π). An exact map's steps measure
    under 1 px; a map with too few clear steps keeps `RAMP_PX`."""
    gx = cv2.Sobel(disparity, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(disparity, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    gradient = cv2.magnitude(gx, gy)
    wide = np.ones((2 * MAX_RAMP_PX + 1,) * 2, np.uint8)
    top, bottom = cv2.dilate(disparity, wide), cv2.erode(disparity, wide)
    span = top - bottom
    middle = np.abs(disparity - 0.5 * (top + bottom)) < 0.15 * span
    peak = gradient >= cv2.dilate(gradient, np.ones((3, 3), np.uint8))
    # a step's rise is concentrated at its middle (13/σ times the window's mean gradient
    # for a window of 33 px), a slope's is spread evenly: a slope is not a wide step
    concentrated = gradient > 1.5 * cv2.blur(gradient, wide.shape)
    at = middle & peak & concentrated & known & (span > 4.0 * edge)
    if np.count_nonzero(at) < 50:
        return RAMP_PX
    sigma = float(np.median(span[at] / (gradient[at] * np.sqrt(2.0 * np.pi))))
    return int(np.clip(round(RAMP_SIGMAS * sigma), RAMP_PX, MAX_RAMP_PX))


def _grain(disparity: np.ndarray, known: np.ndarray) -> float:
    """The map's grain: the robust standard deviation (1.4826 times the median absolute
    value) of what a 5x5 median removes, over the known pixels (every fourth row and
    column of them: a statistic, not a map). Steps and slopes pass a median unchanged,
    so this is the grain alone; 0 for an exact map."""
    residual = disparity - cv2.medianBlur(disparity, 5)
    sample = residual[::4, ::4][known[::4, ::4]]
    return 1.4826 * float(np.median(np.abs(sample))) if sample.size else 0.0


def _colour_vote(
    image: np.ndarray, near_side: np.ndarray, far_side: np.ndarray, ys: np.ndarray, xs: np.ndarray
) -> np.ndarray:
    """For each pixel (``ys``, ``xs``): how strongly its colour says near (up to +1) or far
    (down to −1), from the mean colours of the ``near_side`` and ``far_side`` pixels in
    its `RAMP_PX` window, scaled by their reliability: contrast² / (contrast² + the two
    sides' colour variances + `COLOUR_NOISE`²), so texture that varies as much as the
    sides differ counts little. 0 where a side is missing. Box sums on a grid twice as
    coarse, read at the ramp pixels."""
    # on a grid twice as coarse (a quarter of the work): a vote needs the sides' colours
    # around the pixel, not to the pixel
    h, w = near_side.shape
    half = ((w + 1) // 2, (h + 1) // 2)
    side_px = RAMP_PX + 1
    gy, gx = ys // 2, xs // 2
    squared = cv2.multiply(image, image, dtype=cv2.CV_16U)  # 255² fits in 16 bits

    def window_sum(plane: np.ndarray) -> np.ndarray:
        """Each coarse pixel's window sum (cut short at the border), at the ramp pixels:
        integer planes averaged 2x2 and summed in float32 (exact up to 2^24)."""
        small = cv2.resize(plane, half, interpolation=cv2.INTER_AREA)
        summed = cv2.boxFilter(small, cv2.CV_32F, (side_px, side_px), normalize=False, borderType=cv2.BORDER_CONSTANT)
        return summed[gy, gx].astype(np.float64)

    def mean_and_variance(side: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mask = side.view(np.uint8)
        n = window_sum(mask.astype(np.float32))
        scale = 1.0 / np.maximum(n, 1e-6)[:, None]
        mean = window_sum(cv2.copyTo(image, mask)).reshape(-1, 3) * scale
        square = window_sum(cv2.copyTo(squared, mask)).reshape(-1, 3) * scale
        return mean, np.maximum(square - mean * mean, 0.0).sum(axis=1), n > 0

    near_mean, near_var, has_near = mean_and_variance(near_side)
    far_mean, far_var, has_far = mean_and_variance(far_side)
    pixel = image[ys, xs].astype(np.float64)
    to_near = np.sqrt(((pixel - near_mean) ** 2).sum(axis=1))
    to_far = np.sqrt(((pixel - far_mean) ** 2).sum(axis=1))
    vote = (to_far - to_near) / np.maximum(to_far + to_near, 1e-6)
    contrast = ((near_mean - far_mean) ** 2).sum(axis=1)
    reliability = contrast / (contrast + near_var + far_var + COLOUR_NOISE**2)
    return np.where(has_near & has_far, vote * reliability, 0.0)


def _restore_thin_structures(
    measured: np.ndarray,
    sharp: np.ndarray,
    known: np.ndarray,
    edge: float,
    ramp_votes: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """``sharp`` (the ramps given to their sides) with its thin near structures raised to
    the height their blur took from them and narrowed to their outline (see the module
    docstring); ``measured``: the disparity before the ramps were decided (grain
    removed); ``ramp_votes``: the ramp pixels' rows, columns (in `np.nonzero`'s order)
    and colour votes. ``sharp`` itself where there is no thin structure.

    The morphology runs on a 16-bit copy (a quarter of the float work; steps of 1.5e-5 in
    disparity), and everything after finding the thin pixels only in the box around them
    and at them: a photograph has few (about 600 on a 1080p canvas of the demo forest)."""
    side = 2 * RAMP_PX + 1
    square = np.ones((side, side), np.uint8)
    scale = 65535.0
    levels = cv2.multiply(sharp, scale, dtype=cv2.CV_16U)
    rise = np.uint16(min(edge * scale, scale))
    floor = cv2.morphologyEx(levels, cv2.MORPH_OPEN, np.ones((THIN_PX, THIN_PX), np.uint8))
    # thin: above what a THIN_PX square fits in, and with no wider nearer surface within
    # RAMP_PX: a wedge's tip belongs to its body, whose step the blur did not flatten (on
    # the photograph evaluation, raising and narrowing tips loses 0.5 dB disoccluded on
    # seed 7)
    ty, tx = np.divmod(np.flatnonzero((cv2.subtract(levels, floor) > rise) & known), sharp.shape[1])
    if ty.size:
        lone = cv2.dilate(floor, square)[ty, tx].astype(np.int32) - floor[ty, tx] <= rise
        ty, tx = _long_pieces(ty[lone], tx[lone], sharp.shape, THIN_LENGTH)
    if not ty.size:
        return sharp
    window = 4 * RAMP_PX + 1  # the blur spread each structure's volume over this window
    (y0, x0), box = _box_around(ty, tx, window // 2 + side, sharp.shape)
    ty, tx = ty - y0, tx - x0
    levels, known_box = levels[box], known[box]
    # the surface behind: every structure narrower than the ramp window opened away; the
    # ones above it share the volume the measured map has above it in each window
    behind = cv2.morphologyEx(levels, cv2.MORPH_OPEN, square)
    elevated = (cv2.subtract(levels, behind) > rise) & known_box
    known_u8 = known_box.view(np.uint8)
    volume = _window_sums(cv2.copyTo(measured[box], known_u8), ty, tx, window)
    volume -= _window_sums(cv2.copyTo(behind, known_u8), ty, tx, window) / scale
    base = behind[ty, tx] / np.float32(scale)
    lift = sharp[box][ty, tx] - base
    cap = LIFT_CAP * lift
    height = np.minimum(volume / np.maximum(_window_sums(elevated, ty, tx, window), 1.0), cap)
    # a pixel that rises too little towards that height lies outside the structure; the
    # structure's volume then shares over fewer pixels
    rises = (measured[box][ty, tx] - base) / np.maximum(height, 1e-6)
    votes = _votes_at(ramp_votes, ty + y0, tx + x0, sharp.shape[1])
    outside = rises + np.minimum(votes, 0.0) < THIN_EDGE
    elevated[ty[outside], tx[outside]] = False
    height = volume / np.maximum(_window_sums(elevated, ty, tx, window), 1.0)
    out = sharp.copy()
    # too little gain is the opening's bias, not blur: it follows the grain's troughs
    height = np.where(height > (1.0 + MIN_GAIN) * lift, np.minimum(height, cap), lift)
    restored = np.where(outside, base, base + height)
    out[ty + y0, tx + x0] = np.clip(restored, 0.0, 1.0)
    return out


def _long_pieces(ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int], length: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels (``ys``, ``xs``) of the 8-connected pieces they form whose bounding box
    is at least ``length`` pixels long on a side."""
    if not ys.size:
        return ys, xs
    plane = np.zeros(shape, np.uint8)
    plane[ys, xs] = 1
    _, piece, stats, _ = cv2.connectedComponentsWithStats(plane, connectivity=8)
    long_ = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) >= length
    keep = long_[piece[ys, xs]]
    return ys[keep], xs[keep]


def _box_around(
    ys: np.ndarray, xs: np.ndarray, pad: int, shape: tuple[int, int]
) -> tuple[tuple[int, int], tuple[slice, slice]]:
    """The bounding box of the pixels (``ys``, ``xs``) grown by ``pad`` and cut at the
    borders of ``shape``: its top-left corner and its slices."""
    h, w = shape
    y0, y1 = max(int(ys.min()) - pad, 0), min(int(ys.max()) + pad + 1, h)
    x0, x1 = max(int(xs.min()) - pad, 0), min(int(xs.max()) + pad + 1, w)
    return (y0, x0), (slice(y0, y1), slice(x0, x1))


def _votes_at(
    ramp_votes: tuple[np.ndarray, np.ndarray, np.ndarray], ys: np.ndarray, xs: np.ndarray, width: int
) -> np.ndarray:
    """The colour votes of the ramp pixels (rows, columns in `np.nonzero`'s order, votes)
    at (``ys``, ``xs``); 0 at a pixel that was no ramp pixel."""
    rows, cols, votes = ramp_votes
    keys = rows.astype(np.int64) * width + cols  # sorted, as np.nonzero lists them
    wanted = ys.astype(np.int64) * width + xs
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    return np.where(keys[at] == wanted, votes[at], 0.0)


def _window_sums(plane: np.ndarray, ys: np.ndarray, xs: np.ndarray, window: int) -> np.ndarray:
    """The sums of ``plane`` over the ``window``-wide squares centred on (``ys``, ``xs``),
    cut short at the border: an integral image read at the corners."""
    h, w = plane.shape
    table = cv2.integral(plane.view(np.uint8) if plane.dtype == bool else plane, sdepth=cv2.CV_64F)
    r = window // 2
    y0, y1 = np.clip(ys - r, 0, h), np.clip(ys + r + 1, 0, h)
    x0, x1 = np.clip(xs - r, 0, w), np.clip(xs + r + 1, 0, w)
    return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
