from __future__ import annotations

import cv2
import numpy as np

from parallax_pipeline.engine.parallax.sharpen import sharpen_disparity

RED, BLUE, GREEN = (200, 50, 50), (50, 50, 200), (40, 180, 60)


def step_scene(edge_x: int = 37, w: int = 80, h: int = 40):
    """A near red half left of ``edge_x`` (disparity 0.8) and a far blue half (0.2)."""
    image = np.empty((h, w, 3), np.uint8)
    image[:, :edge_x], image[:, edge_x:] = RED, BLUE
    disparity = np.full((h, w), 0.2, np.float32)
    disparity[:, :edge_x] = 0.8
    return image, disparity


def test_a_soft_step_is_snapped_to_the_colour_edge():
    image, exact = step_scene()
    soft = cv2.GaussianBlur(exact, (0, 0), 3.0)  # an estimator's ramp, centred elsewhere
    soft = np.roll(soft, 2, axis=1)
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.03)
    row_in, row_out = soft[20], out[20]
    # the ramp's middle now takes one side or the other, and the sides meet at the colour edge
    middle = (row_in > 0.3) & (row_in < 0.7)
    assert middle.sum() >= 5
    assert ((row_out[middle] > 0.75) | (row_out[middle] < 0.25)).all()
    # so a layer cut anywhere in the middle of the step (0.3 to 0.7) follows the colour edge
    assert (row_out[25:37] > 0.7).all() and (row_out[37:50] < 0.3).all()
    assert not ((soft[20, 25:37] > 0.7).all() and (soft[20, 37:50] < 0.3).all())  # it did not before


def test_an_exact_map_with_a_surface_of_middle_depth_passes_unchanged():
    image, exact = step_scene()
    image[:, 37:41] = GREEN  # a 4-px strip of middle depth between the two
    exact[:, 37:41] = 0.5
    out = sharpen_disparity(image, exact, np.ones(exact.shape, bool), edge=0.03)
    assert np.array_equal(out, exact)


def test_grain_goes_but_thin_structures_and_unknown_pixels_stay():
    rng = np.random.default_rng(0)
    image = np.full((40, 80, 3), 128, np.uint8)
    truth = np.full((40, 80), 0.3, np.float32)
    truth[:, 40:42] = 0.9  # a pole two pixels wide
    noisy = truth + rng.normal(0, 0.004, truth.shape).astype(np.float32)
    known = np.ones(truth.shape, bool)
    known[:, :5] = False
    out = sharpen_disparity(image, noisy, known, edge=0.03)
    assert np.abs(out - truth)[:, 5:].mean() < 0.5 * np.abs(noisy - truth)[:, 5:].mean()
    assert (out[:, 40:42] > 0.85).all()
    assert np.array_equal(out[:, :5], noisy[:, :5])


def grain(shape, sigma: float, seed: int = 3) -> np.ndarray:
    """Grain as stereo matching leaves it: correlated over a few pixels, std ``sigma``."""
    noise = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32), (0, 0), 2.0)
    return noise * np.float32(sigma / noise.std())


def test_grain_on_a_flat_surface_is_not_turned_into_steps():
    # grain of a third of a depth edge: a 13 px window spans more than an edge here and
    # there, and those "ramps" were decided into steps of a whole edge
    h, w, edge = 120, 160, 0.06
    flat = 0.5 + grain((h, w), 0.02)
    image = np.full((h, w, 3), 120, np.uint8)
    out = sharpen_disparity(image, flat, np.ones((h, w), bool), edge=edge)
    moved = np.abs(out - flat) > 0.5 * edge
    assert moved.mean() < 0.01, moved.mean()  # 0.10 before GRAIN_SPAN


def test_a_soft_step_under_the_same_grain_is_still_decided():
    image, exact = step_scene(edge_x=77, w=160, h=120)
    soft = cv2.GaussianBlur(exact, (0, 0), 3.0) + grain(exact.shape, 0.02)
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.06)
    rows = slice(10, 110)
    middle = (soft[rows, 70:84] > 0.35) & (soft[rows, 70:84] < 0.65)
    assert middle.sum() > 200
    decided = out[rows, 70:84][middle]
    assert ((decided > 0.7) | (decided < 0.3)).mean() > 0.95
    assert (out[rows, 70:77] > 0.7).mean() > 0.95 and (out[rows, 77:84] < 0.3).mean() > 0.95


def test_a_step_blurred_wider_than_the_least_ramp_window_is_decided_whole():
    # an estimator with a wider window (σ 5 px): within RAMP_PX the step spans less than
    # STEP_SHARE of what it spans in twice that, so a fixed window took it for a slope
    image, exact = step_scene(edge_x=77, w=160, h=60)
    soft = cv2.GaussianBlur(exact, (0, 0), 5.0)
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.03)
    assert (out[:, 60:77] > 0.75).all() and (out[:, 77:94] < 0.25).all()


def test_a_slope_next_to_a_wide_step_stays_a_slope():
    image, exact = step_scene(edge_x=77, w=160, h=60)
    exact[:, 77:] = np.linspace(0.2, 0.5, 83, dtype=np.float32)  # receding ground beyond the step
    soft = cv2.GaussianBlur(exact, (0, 0), 5.0)
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.03)
    ground = slice(110, 150)  # far from the step: the slope keeps its gradient
    np.testing.assert_allclose(out[:, ground], soft[:, ground], atol=1e-6)


def test_grain_of_independent_pixels_above_half_an_edge_is_taken_out_with_its_strays():
    # a matcher without window aggregation: every pixel's error is its own, and stronger
    # than half a depth edge, so a median held to half an edge left most of it (and its
    # strays, which the layers then cut along)
    image, truth = step_scene(edge_x=77, w=160, h=120)
    noisy = truth + np.random.default_rng(5).normal(0, 0.03, truth.shape).astype(np.float32)
    out = sharpen_disparity(image, noisy, np.ones(truth.shape, bool), edge=0.03)
    plateaus = np.r_[0:70, 84:160]
    error, before = np.abs(out - truth)[:, plateaus], np.abs(noisy - truth)[:, plateaus]
    assert error.mean() < 0.4 * before.mean(), (error.mean(), before.mean())  # 0.96 before, 0.31 now
    assert (error > 0.045).mean() < 0.01, (error > 0.045).mean()  # strays of 1.5 sigma or more: 13 % before
    # the step stays where it is
    assert (out[:, 60:75] > 0.7).all() and (out[:, 80:95] < 0.3).all()
