"""Camera paths: every preset's start and end, looping, easing, the brief's defaults."""

from __future__ import annotations

import dataclasses
import math

import pytest

from parallax_pipeline.engine.parallax.camera import CameraPose, Motion, camera_path, dolly, ease, smoothstep

A = 0.2
FIELDS = ("dx", "dy", "zoom", "scale")
Z = 1 - 1 / (1 + A)  # the zoom that magnifies the nearest surface by 1 + A

# preset -> (first pose, last pose) without loop, amount A (see camera_path's docstring)
ENDPOINTS = {
    "static": (CameraPose(), CameraPose()),
    "dolly_in": (CameraPose(zoom=0.0), CameraPose(zoom=Z)),
    "dolly_out": (CameraPose(zoom=Z), CameraPose(zoom=0.0)),
    "pan_right": (CameraPose(dx=A / 2), CameraPose(dx=-A / 2)),
    "pan_left": (CameraPose(dx=-A / 2), CameraPose(dx=A / 2)),
    "pan_down": (CameraPose(dy=A / 2), CameraPose(dy=-A / 2)),
    "pan_up": (CameraPose(dy=-A / 2), CameraPose(dy=A / 2)),
    "circle": (CameraPose(dx=A / 2), CameraPose(dx=A / 2)),
    "swing": (CameraPose(), CameraPose()),
    "dolly_zoom": (CameraPose(), CameraPose(zoom=Z, scale=1 - Z)),
}


def close(a: CameraPose, b: CameraPose, tol: float = 1e-9) -> bool:
    return all(abs(getattr(a, f) - getattr(b, f)) <= tol for f in FIELDS)


def distance(a: CameraPose, b: CameraPose) -> float:
    return max(abs(getattr(a, f) - getattr(b, f)) for f in FIELDS)


def test_motion_defaults_unchanged():
    m = Motion()
    # the brief's API defaults: camera movement 0.1, movement range 0.17
    assert (m.preset, m.amount, m.range, m.easing, m.loop) == ("dolly_in", 0.1, 0.17, "ease_in_out", False)
    assert Motion.model_validate({"preset": "circle", "amount": 0.05}).range == 0.17  # old files still load


def test_every_preset_has_endpoints():
    assert set(ENDPOINTS) == set(Motion.model_fields["preset"].annotation.__args__)


@pytest.mark.parametrize("easing", ["linear", "ease_in_out"])
@pytest.mark.parametrize("preset", sorted(ENDPOINTS))
def test_first_and_last_pose(preset, easing):
    path = camera_path(Motion(preset=preset, amount=A, easing=easing), 31)
    first, last = ENDPOINTS[preset]
    assert len(path) == 31
    assert close(path[0], first), (path[0], first)
    assert close(path[-1], last), (path[-1], last)


@pytest.mark.parametrize("easing", ["linear", "ease_in_out"])
@pytest.mark.parametrize("preset", sorted(ENDPOINTS))
def test_loop_ends_one_step_before_start(preset, easing):
    frames = 40
    path = camera_path(Motion(preset=preset, amount=A, easing=easing, loop=True), frames)
    assert len(path) == frames
    assert close(path[0], ENDPOINTS[preset][0])
    steps = [distance(a, b) for a, b in zip(path, path[1:])]
    largest = max(steps, default=0.0)
    # the wrap-around from the last frame back to the first is no bigger than a step
    assert distance(path[-1], path[0]) <= largest + 1e-12
    if preset != "static":
        assert largest > 0
        # ... and the path really goes somewhere in between
        assert max(distance(p, path[0]) for p in path) > A / 4


def test_loop_one_way_preset_turns_back_mid_clip():
    path = camera_path(Motion(preset="dolly_in", amount=A, easing="linear", loop=True), 20)
    zooms = [p.zoom for p in path]
    assert zooms[10] == pytest.approx(Z)  # t = 1/2: the far end of the move
    assert zooms[:11] == sorted(zooms[:11])
    assert zooms[10:] == sorted(zooms[10:], reverse=True)


def test_circle_radius_and_turn():
    path = camera_path(Motion(preset="circle", amount=A, easing="linear"), 9)
    for p in path:
        assert math.hypot(p.dx, p.dy) == pytest.approx(A / 2)
    assert path[2].dx == pytest.approx(0, abs=1e-12) and path[2].dy == pytest.approx(A / 2)  # quarter turn, down
    assert path[4].dx == pytest.approx(-A / 2)


def test_swing_goes_right_then_left():
    path = camera_path(Motion(preset="swing", amount=A, easing="linear"), 5)
    assert [round(p.dx, 12) for p in path] == pytest.approx([0, A / 2, 0, -A / 2, 0])
    assert all(p.dy == 0 for p in path)


def test_dolly_zoom_keeps_nearest_surface_size():
    for p in camera_path(Motion(preset="dolly_zoom", amount=A), 10):
        assert p.magnification(1.0) == pytest.approx(1.0)  # d = 1 keeps its size
        assert p.magnification(0.0) <= 1.0  # the far background shrinks
    assert camera_path(Motion(preset="dolly_zoom", amount=A), 10)[-1].magnification(0.0) == pytest.approx(1 / (1 + A))


def test_dolly_magnifies_the_nearest_surface_by_one_plus_amount():
    path = camera_path(Motion(preset="dolly_in", amount=A, easing="linear"), 11)
    assert [p.magnification(1.0) for p in path] == pytest.approx([1 + A * i / 10 for i in range(11)])
    assert all(p.magnification(0.0) == 1.0 for p in path)  # far content keeps its size
    assert dolly(1.0) == 0.0 and dolly(1 + A) == pytest.approx(Z)


def test_easing():
    assert smoothstep(0) == 0 and smoothstep(1) == 1 and smoothstep(0.5) == 0.5
    lin = camera_path(Motion(preset="pan_left", amount=A, easing="linear"), 11)
    eased = camera_path(Motion(preset="pan_left", amount=A, easing="ease_in_out"), 11)
    assert [p.dx for p in lin] == pytest.approx([-A / 2 + A * i / 10 for i in range(11)])
    assert eased[5].dx == pytest.approx(lin[5].dx)
    assert eased[1].dx < lin[1].dx and eased[9].dx > lin[9].dx  # slow start, slow end


@pytest.mark.parametrize("easing", ["linear", "ease_in_out", "ease_in", "ease_out"])
def test_easing_curves_run_from_0_to_1_monotonically(easing):
    values = [ease(i / 100, easing) for i in range(101)]
    assert values[0] == 0.0 and values[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(values, values[1:]))
    first, last = values[1] - values[0], values[-1] - values[-2]
    if easing in ("ease_in", "ease_in_out"):
        assert first < 0.002  # starts at rest
    if easing in ("ease_out", "ease_in_out"):
        assert last < 0.002  # ends at rest


def test_single_frame_and_invalid_counts():
    assert camera_path(Motion(preset="pan_right", amount=A), 1) == [CameraPose(dx=A / 2)]
    with pytest.raises(ValueError):
        camera_path(Motion(), 0)


def test_zero_amount_is_still():
    for preset in ENDPOINTS:
        assert all(p.is_identity() for p in camera_path(Motion(preset=preset, amount=0.0), 7))


def test_pose_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CameraPose().dx = 1.0  # type: ignore[misc]
