"""Thin near structures in a blurred depth map: their height given back from the volume
the blur kept, their outline from the picture (`sharpen._restore_thin_structures`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from parallax_pipeline.engine.parallax.sharpen import sharpen_disparity

SKY, POLE = (60, 90, 160), (220, 200, 60)


def pole_scene(width: int, near: float = 0.9, coloured: bool = True, h: int = 60, w: int = 80, x0: int = 38):
    """A vertical pole ``width`` px wide at disparity ``near`` in front of a far (0.2)
    surface, painted its own colour when ``coloured``; its exact disparity."""
    image = np.empty((h, w, 3), np.uint8)
    image[:] = SKY
    if coloured:
        image[:, x0 : x0 + width] = POLE
    exact = np.full((h, w), 0.2, np.float32)
    exact[:, x0 : x0 + width] = near
    return image, exact


@pytest.mark.parametrize("width", [3, 4, 6])
def test_a_thin_near_pole_gets_its_full_step_back_on_its_outline(width):
    image, exact = pole_scene(width)
    soft = cv2.GaussianBlur(exact, (0, 0), 3.0)  # an estimator's window, wider than the pole
    assert soft.max() < 0.2 + 0.7 * 0.75  # the blur took a quarter to a half of the step
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.03)
    pole = exact > 0.5
    assert np.abs(out[pole] - 0.9).max() < 0.03  # the whole step, not the blurred peak
    assert (out[~pole] < 0.25).all()  # and no wider than the pole


def test_without_colour_evidence_a_blurred_ridge_is_not_raised_past_its_volume():
    # the same profile could be a ridge twice as wide at middle depth: the pixels that keep
    # the step share the volume the blur left, and the ridge keeps about its peak
    image, exact = pole_scene(4, coloured=False)
    soft = cv2.GaussianBlur(exact, (0, 0), 3.0)
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.03)
    assert out.max() < soft.max() + 0.05


def test_an_exact_thin_ridge_of_middle_depth_keeps_its_height():
    image, exact = pole_scene(4, near=0.5)
    out = sharpen_disparity(image, exact, np.ones(exact.shape, bool), edge=0.03)
    assert np.allclose(out, exact, atol=1e-4)


def test_a_wedge_tip_keeps_the_height_of_its_body():
    # a near wedge narrowing to a point: its tip is thinner than a pole, but the body's
    # step is not blurred away, and the tip must not be raised or cut off
    h, w = 80, 80
    image = np.empty((h, w, 3), np.uint8)
    image[:] = SKY
    exact = np.full((h, w), 0.2, np.float32)
    tip = np.array([[10, 70], [70, 40], [70, 60]], np.int32)  # (x, y) corners
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [tip], 1)
    image[mask > 0] = POLE
    exact[mask > 0] = 0.9
    soft = cv2.GaussianBlur(exact, (0, 0), 3.0)
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.03)
    assert out.max() <= 0.9 + 1e-3
    body = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
    assert (out[body] > 0.85).mean() > 0.9


def test_grain_specks_are_no_thin_structures_and_leave_edges_whole():
    # a measured map's grain leaves specks a few pixels across above the opening, on flat
    # surfaces and along a wide near region's edge: raised or cut as if they were poles,
    # they notch that edge (and specks are no structures: poles and wires are long)
    h, w = 80, 120
    image = np.empty((h, w, 3), np.uint8)
    image[:] = SKY
    image[40:] = POLE
    exact = np.full((h, w), 0.2, np.float32)
    exact[40:] = 0.8  # a wide near region, its edge along row 40
    soft = cv2.GaussianBlur(exact, (0, 0), 2.0)
    rng = np.random.default_rng(5)
    specks = [(int(y), int(x)) for y, x in zip(rng.integers(4, 30, 6), rng.integers(6, 114, 6))]
    specks += [(41, x) for x in (20, 55, 90)]  # on the near region's edge
    for y, x in specks:
        soft[y - 1 : y + 2, x - 1 : x + 2] += 0.08
    out = sharpen_disparity(image, soft, np.ones(soft.shape, bool), edge=0.03)
    assert (out[42:] > 0.7).all()  # the near region whole, its edge not notched
    assert (out[:38] < 0.3 + 0.08).all()  # no speck raised above what it measured
