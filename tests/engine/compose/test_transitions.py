"""Each transition's frames against its formula, on synthetic frames (solid colours, gradients)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from parallax_pipeline.engine.compose.transitions import Transition, blend, circle_edge, progress

H, W = 36, 64
RED, BLUE = (220, 20, 20), (20, 20, 220)


def solid(rgb) -> np.ndarray:
    return np.full((H, W, 3), rgb, np.uint8)


def labelled() -> tuple[np.ndarray, np.ndarray]:
    """Two frames whose every pixel says where it came from: A's channels hold its
    (column, row), B's hold (column, row) + 100 in channel 2, so any shift is visible."""
    y, x = np.mgrid[0:H, 0:W]
    a = np.stack([x, y, np.zeros_like(x)], axis=-1).astype(np.uint8)
    b = np.stack([x, y, np.full_like(x, 100)], axis=-1).astype(np.uint8)
    return a, b


def gradients() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:H, 0:W]
    a = np.stack([x * 4, y * 7, 255 - x * 3], axis=-1).astype(np.uint8)
    b = np.stack([255 - y * 7, x * 2 + 50, y * 5], axis=-1).astype(np.uint8)
    return a, b


# ----------------------------------------------------------------------------- the model


def test_defaults_depend_on_the_type():
    assert Transition() == Transition(type="cut", duration=0.0, direction=None)
    assert Transition(type="dissolve").duration == 0.5
    assert Transition(type="wipe").direction == "left"
    assert Transition.model_validate("circle") == Transition(type="circle", duration=0.5)
    assert Transition(type="slide", direction="down", duration=0.8).label() == "slide down 0.8s"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "cut", "duration": 1.0}, "a cut has no duration"),
        ({"type": "fade", "direction": "up"}, "a fade has no direction"),
        ({"type": "push", "duration": 0}, "needs a duration above 0"),
        ({"type": "wipe", "direction": "diagonal"}, "direction"),
        ({"type": "zoom"}, "type"),
    ],
)
def test_invalid_transitions_are_rejected(fields, message):
    with pytest.raises(ValidationError, match=message):
        Transition.model_validate(fields)


def test_overlap_is_rounded_to_whole_frames():
    assert Transition().overlap_frames(30) == 0
    assert Transition(type="dissolve", duration=0.8).overlap_frames(30) == 24
    assert Transition(type="dissolve", duration=0.3).overlap_frames(24) == 7  # 7.2
    assert Transition(type="dissolve", duration=0.01).overlap_frames(24) == 1  # never zero


def test_progress_runs_strictly_between_the_two_scenes():
    assert [progress(k, 3) for k in range(3)] == [0.25, 0.5, 0.75]
    with pytest.raises(ValueError):
        progress(3, 3)


# ----------------------------------------------------------------------------- the frames


def test_dissolve_is_the_weighted_mean():
    a, b = gradients()
    middle = blend(Transition(type="dissolve"), a, b, progress(2, 5))  # P = 1/2
    mean = (a.astype(np.float64) + b) / 2
    assert np.abs(middle - mean).max() <= 0.5 + 1e-9  # within rounding
    for p in (0.1, 0.37, 0.9):
        frame = blend(Transition(type="dissolve"), a, b, p)
        expected = a * (1 - p) + b.astype(np.float64) * p
        assert np.abs(frame - expected).max() <= 0.5 + 1e-6, p


def test_fade_goes_through_black():
    a, b = gradients()
    fade = Transition(type="fade")
    assert blend(fade, a, b, 0.5).max() == 0
    frame = blend(fade, a, b, 0.2)  # first half: A at 1 - 2P = 0.6, no B
    assert np.abs(frame - a * 0.6).max() <= 0.5 + 1e-6
    frame = blend(fade, a, b, 0.9)  # second half: B at 2P - 1 = 0.8, no A
    assert np.abs(frame - b * 0.8).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_wipe_edge_sits_where_progress_says(direction, p):
    frame = blend(Transition(type="wipe", direction=direction), solid(RED), solid(BLUE), p)
    is_b = frame[..., 2] == BLUE[2]
    assert np.all(is_b | (frame[..., 0] == RED[0]))  # a hard edge: only A or B pixels
    if direction in ("left", "right"):
        e = round(W * p)
        columns = is_b.all(axis=0)
        assert columns.sum() == e and (is_b.any(axis=0) == columns).all()
        b_side = columns[W - e :] if direction == "left" else columns[:e]
        assert b_side.all()  # left: the edge has moved from the right edge to column W - e
    else:
        e = round(H * p)
        rows = is_b.all(axis=1)
        assert rows.sum() == e and (is_b.any(axis=1) == rows).all()
        assert (rows[H - e :] if direction == "up" else rows[:e]).all()


@pytest.mark.parametrize("kind", ["slide", "push"])
@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
def test_slide_and_push_move_whole_frames(kind, direction):
    a, b = labelled()
    p = 0.3
    frame = blend(Transition(type=kind, direction=direction), a, b, p)
    vertical = direction in ("up", "down")
    length = H if vertical else W
    e = round(length * p)
    axis = 0 if vertical else 1

    def take(img, start, stop):
        return np.take(img, range(start, stop), axis=axis)

    if direction in ("left", "up"):  # B enters at the far end with its first lines
        expected_b, b_place = take(b, 0, e), (length - e, length)
        expected_a = take(a, e, length) if kind == "push" else take(a, 0, length - e)
        a_place = (0, length - e)
    else:  # B enters at the near end with its last lines
        expected_b, b_place = take(b, length - e, length), (0, e)
        expected_a = take(a, 0, length - e) if kind == "push" else take(a, e, length)
        a_place = (e, length)
    np.testing.assert_array_equal(take(frame, *b_place), expected_b)
    np.testing.assert_array_equal(take(frame, *a_place), expected_a)


def test_circle_grows_from_the_centre_with_a_soft_edge():
    a, b = solid(RED), solid(BLUE)
    circle = Transition(type="circle")
    reach, soft = circle_edge(H, W)
    y, x = np.mgrid[0:H, 0:W]
    radius = np.hypot(x + 0.5 - W / 2, y + 0.5 - H / 2)
    for p in (0.2, 0.5, 0.8):
        frame = blend(circle, a, b, p).astype(np.int32)
        half = p * (reach + soft) - soft / 2  # the radius of the half-blend, per the docstring
        inside, outside = radius < half - soft / 2, radius > half + soft / 2
        assert inside.any() and outside.any()
        assert np.abs(frame[inside] - BLUE).max() <= 1
        assert np.abs(frame[outside] - RED).max() <= 1
        # Everywhere, the edge included: B's weight is 1 − smoothstep across the soft band.
        t = np.clip((radius - (half - soft / 2)) / soft, 0, 1)
        weight = (1 - t * t * (3 - 2 * t))[..., None]
        assert np.abs(frame - (np.array(RED) * (1 - weight) + np.array(BLUE) * weight)).max() <= 1
    assert (blend(circle, a, b, 0.0) == a).all()
    assert (blend(circle, a, b, 1.0) == b).all()


def test_radial_sweeps_clockwise_from_twelve():
    # Even sizes: no pixel centre lies on the axes, so quarter turns split the frame exactly.
    quadrant = np.zeros((H, W), bool)
    top_right, bottom_right, bottom_left = quadrant.copy(), quadrant.copy(), quadrant.copy()
    top_right[: H // 2, W // 2 :] = True
    bottom_right[H // 2 :, W // 2 :] = True
    bottom_left[H // 2 :, : W // 2] = True
    expected = {0.25: top_right, 0.5: top_right | bottom_right, 0.75: top_right | bottom_right | bottom_left}
    for p, b_region in expected.items():
        frame = blend(Transition(type="radial"), solid(RED), solid(BLUE), p)
        np.testing.assert_array_equal(frame[..., 2] == BLUE[2], b_region, err_msg=str(p))


def test_cut_and_bad_input():
    a, b = solid(RED), solid(BLUE)
    assert (blend(Transition(), a, b, 0.2) == a).all()
    with pytest.raises(ValueError, match="one shape"):
        blend(Transition(type="dissolve"), a, b[:, :10], 0.5)
    with pytest.raises(ValueError, match="progress"):
        blend(Transition(type="dissolve"), a, b, 1.5)
