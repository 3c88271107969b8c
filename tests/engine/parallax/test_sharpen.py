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
