from __future__ import annotations

import time

import numpy as np
import pytest

from parallax_pipeline.engine.parallax.camera import CameraPose, Motion
from parallax_pipeline.engine.parallax.renderer import ClipFrames, render_frames, render_pose, render_view

BG = (40, 90, 200)  # blue background


FG = (230, 50, 40)  # red near square


POLE = (20, 220, 60)  # green pole


def is_colour(img: np.ndarray, colour, tol: int = 40) -> np.ndarray:
    return (np.abs(img.astype(int) - np.array(colour)).sum(axis=-1)) < tol


def two_planes(w: int = 200, h: int = 120, box=(80, 40, 120, 80), d_fg: float = 1.0):
    """Background at disparity 0 and a square at d_fg; box = (x0, y0, x1, y1), exclusive."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = BG
    disp = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = FG
    disp[y0:y1, x0:x1] = d_fg
    return img, disp


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A busy texture with no dark pixels and nothing near FG, BG or POLE: every
    channel >= 40, red >= 100, green <= 160, blue >= 120."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.5 + 0.5 * np.dstack([np.sin(xx / 7.0), np.cos(yy / 5.0), np.sin((xx + yy) / 11.0)])
    u = 0.7 * base + 0.3 * rng.random((h, w, 3)).astype(np.float32)
    lo, hi = np.array([100, 40, 120], np.float32), np.array([250, 160, 250], np.float32)
    return (lo + (hi - lo) * u).astype(np.uint8)


def projective(img: np.ndarray, disp_fn, pose: CameraPose) -> np.ndarray:
    """The exact view of a scene whose disparity is ``disp_fn(x, y)`` (planar: affine in
    x, y), by solving the camera model per target pixel with many fixed-point steps."""
    import cv2

    h, w = img.shape[:2]
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    q = np.stack([xs - c[0], ys - c[1]]) / pose.scale
    a = np.stack([np.full_like(xs, w * pose.dx), np.full_like(xs, w * pose.dy)]) + pose.zoom * q
    d = disp_fn(xs, ys)
    for _ in range(60):  # P = c + q − d·A with d = D(P)
        px, py = c[0] + q[0] - d * a[0], c[1] + q[1] - d * a[1]
        d = disp_fn(px, py)
    return cv2.remap(img, px.astype(np.float32), py.astype(np.float32), cv2.INTER_LINEAR)


def pole_scene(w: int = 320, h: int = 180, x0: int = 150):
    img = textured(h, w)
    img[:, x0 : x0 + 3] = POLE
    disp = np.full((h, w), 0.1, np.float32)
    disp[:, x0 : x0 + 3] = 1.0
    return img, disp


def scene(h: int = 150, w: int = 240):
    img = textured(h, w, seed=3)
    yy, xx = np.mgrid[0:h, 0:w]
    disp = (0.2 + 0.3 * yy / h).astype(np.float32)  # a receding ground
    disp[((xx - 120) ** 2 + (yy - 70) ** 2) < 30**2] = 1.0  # a near disc
    return img, disp


def cv2_resize(img, size):
    import cv2

    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def cv2_blur_disparity(h: int, w: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(1)
    d = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 12)
    return (d - d.min()) / (d.max() - d.min())


def test_zero_offset_returns_the_image():
    img, disp = two_planes()
    out = render_view(img, disp, 0.0, 0.0)
    np.testing.assert_array_equal(out, img)
    assert out is not img


@pytest.mark.parametrize(("dx", "dy"), [(0.05, 0.0), (-0.05, 0.0), (0.0, 0.05), (0.0, -0.03), (0.04, -0.025)])
def test_offset_moves_near_content_by_dx_w_d(dx, dy):
    img, disp = two_planes()
    w = img.shape[1]
    out = render_view(img, disp, dx, dy)
    assert out.shape == img.shape and out.dtype == np.uint8
    cx0, cy0 = centroid(is_colour(img, FG))
    cx1, cy1 = centroid(is_colour(out, FG))
    assert cx1 - cx0 == pytest.approx(dx * w, abs=1.0)  # dx > 0: right
    assert cy1 - cy0 == pytest.approx(dy * w, abs=1.0)  # dy > 0: down, in widths
    assert is_colour(out, FG).sum() == pytest.approx(is_colour(img, FG).sum(), rel=0.1)
    # the background (d = 0) stays where it was, the uncovered part included
    far = np.ones(disp.shape, bool)
    far[30:90, 60:140] = False
    np.testing.assert_array_equal(out[far], img[far])
    # where the square was, background shows again: nothing red is left behind
    moved = np.zeros(disp.shape, bool)
    shift_x, shift_y = round(dx * w), round(dy * w)
    moved[40 + shift_y : 80 + shift_y, 80 + shift_x : 120 + shift_x] = True
    uncovered = ~moved & ~far
    to_bg = np.abs(out[uncovered].astype(int) - BG).sum(axis=-1)
    to_fg = np.abs(out[uncovered].astype(int) - FG).sum(axis=-1)
    assert (to_bg < to_fg).all() and to_bg.mean() < 20


def test_offset_scales_with_disparity():
    img, disp = two_planes(d_fg=0.5)
    cx0, _ = centroid(is_colour(img, FG))
    cx1, _ = centroid(is_colour(render_view(img, disp, 0.1, 0.0), FG))
    assert cx1 - cx0 == pytest.approx(0.1 * 200 * 0.5, abs=1.0)


def test_nearer_surface_wins_where_they_overlap():
    img, disp = two_planes(box=(40, 40, 70, 80))
    img[40:80, 90:130] = POLE
    disp[40:80, 90:130] = 0.3
    out = render_view(img, disp, 0.2, 0.0)  # the near square (+40 px) slides over the mid one (+12 px)
    assert is_colour(out[45:75, 85:105], FG).all()
    cx, _ = centroid(is_colour(out, POLE))
    assert is_colour(out, POLE).sum() > 0 and cx > 110


def test_uncovered_background_is_background_not_foreground():
    img = textured(120, 200)
    img[40:80, 80:120] = FG
    disp = np.full((120, 200), 0.1, np.float32)
    disp[40:80, 80:120] = 1.0
    out = render_view(img, disp, 0.08, 0.0)  # 16 px over 18 px of relative motion
    assert not is_colour(out[40:80, 80:94], FG, tol=60).any()  # nothing red left behind
    assert is_colour(out[42:78, 98:134], FG).all()


def test_entering_content_is_filled():
    img = textured(90, 160)
    disp = np.full((90, 160), 0.5, np.float32)
    for dx, dy in [(0.1, 0.0), (-0.1, 0.05), (0.0, -0.08)]:
        out = render_view(img, disp, dx, dy)
        assert out.min() >= 35  # no black borders


def test_render_pose_dolly_scales_near_content_about_the_centre():
    img, disp = two_planes(box=(90, 50, 110, 70))  # 20 px square at the centre, d = 1
    img[5:15, 5:15] = POLE  # a far marker
    out = render_pose(img, disp, CameraPose(zoom=1 / 3))
    red = out[:, :, 0] > (FG[0] + BG[0]) / 2  # half-way threshold: edges are antialiased
    assert red.sum() == pytest.approx(30 * 30, rel=0.07)  # 1 / (1 − 1/3 · 1) = 1.5x larger
    cx, cy = centroid(red)
    assert cx == pytest.approx(99.5, abs=1) and cy == pytest.approx(59.5, abs=1)
    np.testing.assert_array_equal(out[5:15, 5:15], img[5:15, 5:15])  # d = 0 does not move


def test_render_pose_scale_magnifies_everything():
    img, disp = two_planes(box=(90, 50, 110, 70), d_fg=0.0)
    out = render_pose(img, disp, CameraPose(scale=1.5))
    red = out[:, :, 0] > (FG[0] + BG[0]) / 2
    assert red.sum() == pytest.approx(30 * 30, rel=0.12)
    assert centroid(red) == pytest.approx((99.5, 59.5), abs=1)


@pytest.mark.parametrize(
    ("plane", "pose"),
    [
        ((0.5, 0.0, 0.0), CameraPose(zoom=1 / 3)),  # 1.5x magnification: every other splat row leaves a crack
        ((0.5, 0.0, 0.0), CameraPose(dx=0.031, dy=-0.017)),
        ((0.8, 0.0, 0.0), CameraPose(dx=0.02, zoom=0.2, scale=0.9)),
        ((0.5, 0.0, 0.003), CameraPose(dy=0.06)),  # a receding ground: nearer at the bottom
        ((0.4, 0.002, 0.001), CameraPose(dx=0.05, dy=0.02, zoom=0.1)),  # a slanted wall
    ],
)
def test_a_plane_moves_as_its_exact_projective_image(plane, pose):
    img = textured(120, 200, seed=5)
    base, gx, gy = plane
    disp_fn = lambda x, y: base + gx * (x - 99.5) + gy * (y - 59.5)  # noqa: E731
    ys, xs = np.mgrid[0:120, 0:200].astype(np.float64)
    disp = disp_fn(xs, ys).astype(np.float32)
    out = render_pose(img, disp, pose)
    ref = projective(img, disp_fn, pose)
    inner = (slice(15, -15), slice(20, -20))  # away from entering content
    diff = np.abs(out[inner].astype(int) - ref[inner])
    assert diff.max() <= 3  # no cracks, holes, kinks or speckles: the exact image
    assert diff.mean() < 0.5


def test_tiny_frames():
    img, disp = scene()
    for size in [(2, 2), (3, 17), (16, 16)]:
        out = list(render_frames(img, disp, Motion(preset="circle"), 3, size))
        assert [f.shape for f in out] == [(size[1], size[0], 3)] * 3


def test_rejects_bad_inputs():
    img, disp = two_planes()
    with pytest.raises(ValueError):
        render_view(img.astype(np.float32), disp, 0.1, 0)
    with pytest.raises(ValueError):
        render_view(img, disp[:-1], 0.1, 0)
    with pytest.raises(ValueError, match="zoom"):
        render_pose(img, disp, CameraPose(zoom=1.0))  # the camera would pass the nearest surface
    with pytest.raises(ValueError, match="backend"):
        render_frames(img, disp, Motion(), 2, (40, 30), backend="vulkan")


@pytest.mark.parametrize("dx", [0.05, -0.07, 0.013])
def test_thin_pole_survives_a_view_offset(dx):
    img, disp = pole_scene()
    out = render_view(img, disp, dx, 0.0)
    pole = is_colour(out, POLE)
    shift = round(dx * 320)
    assert pole[:, 150 + shift : 153 + shift].any(axis=1).all()  # unbroken, full height
    assert pole.sum(axis=1).min() >= 2
    assert not pole[:, : 150 + shift - 2].any() and not pole[:, 155 + shift :].any()  # and only there


@pytest.mark.parametrize(("preset", "amount"), [("pan_right", 0.2), ("pan_left", 0.2), ("circle", 0.12)])
def test_thin_pole_survives_a_pan_clip(preset, amount):
    img, disp = pole_scene()
    for frame in render_frames(img, disp, Motion(preset=preset, amount=amount), 5, (320, 180)):
        pole = is_colour(frame, POLE)
        cols = np.nonzero(pole.any(axis=0))[0]
        assert cols.size and cols.max() - cols.min() <= 6  # one pole, not smeared or doubled
        assert pole[:, cols.min() : cols.max() + 1].any(axis=1).all()  # over the full height


@pytest.mark.parametrize("size", [(160, 90), (90, 160), (100, 100)])  # 16:9, 9:16, 1:1
@pytest.mark.parametrize("preset", ["dolly_in", "pan_right", "circle", "dolly_zoom", "swing"])
def test_render_frames_count_size_motion_and_borders(preset, size):
    img, disp = scene()
    frames = render_frames(img, disp, Motion(preset=preset, amount=0.15), 6, size)
    assert isinstance(frames, ClipFrames) and len(frames) == 6  # prepared, rendered lazily
    out = list(frames)
    assert len(out) == 6
    for f in out:
        assert f.shape == (size[1], size[0], 3) and f.dtype == np.uint8
        edges = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]])
        assert edges.max(axis=1).min() > 30  # no black border pixels
    assert any(not np.array_equal(out[0], f) for f in out[1:])


def test_entering_content_is_neither_black_nor_mirrored():
    """A pan beyond the overscan's range: the strip that enters continues the picture's
    edge; it is not black and not the picture's border reflected."""
    xs = np.arange(160)
    stripes = (140 + 80 * np.sin(xs / 3.0)).astype(np.uint8)  # strong vertical stripes
    img = np.repeat(np.repeat(stripes[None, :, None], 90, axis=0), 3, axis=2)
    disp = np.full((90, 160), 0.8, np.float32)
    motion = Motion(preset="pan_left", amount=0.3, range=0.0, easing="linear")  # no overscan allowed
    first = list(render_frames(img, disp, motion, 2, (160, 90)))[0]  # content slid 19 px left
    entered = first[10:-10, -12:, 0].astype(int)  # the right-hand strip comes from beyond the picture
    assert entered.min() > 40  # not black
    mirrored = img[10:-10, -12:, 0][:, ::-1].astype(int)
    assert np.abs(entered - mirrored).mean() > 15  # not the stripes reflected back
    assert entered.std(axis=1).mean() < 0.5 * mirrored.std(axis=1).mean()  # a calm continuation


def test_each_clip_frame_is_its_pose():
    """A clip's frames are the renderer's images of `camera_path` (with the constant
    overscan): the first and last frames of a preset show its defined start and end."""
    img, disp = two_planes(w=240, h=150, box=(100, 55, 140, 95))
    img[5:25, 5:25] = POLE
    motion = Motion(preset="pan_right", amount=0.1, easing="linear")
    clip = render_frames(img, disp, motion, 5, (240, 150))
    frames = list(clip)
    assert [p.dx for p in clip.poses] == pytest.approx([0.05, 0.025, 0.0, -0.025, -0.05])
    s = clip.overscan
    assert all(p.scale == pytest.approx(s) for p in clip.poses)
    # the near square (d = 1) moves from +a/2 to −a/2 frame widths, times the overscan
    x_first, _ = centroid(is_colour(frames[0], FG))
    x_last, _ = centroid(is_colour(frames[-1], FG))
    assert x_first - x_last == pytest.approx(0.1 * 240 * s, abs=1.0)
    assert x_first == pytest.approx(119.5 + 0.05 * 240 * s, abs=1.0)
    # dolly in: the last frame magnifies the nearest surface by 1 + amount
    zoom = list(render_frames(img, disp, Motion(preset="dolly_in", amount=0.2), 3, (240, 150)))
    area = [is_colour(f, FG).sum() for f in (zoom[0], zoom[-1])]
    assert area[1] / area[0] == pytest.approx(1.2**2, rel=0.06)


def test_render_frames_static_and_loop():
    img, disp = scene()
    still = list(render_frames(img, disp, Motion(preset="static"), 3, (120, 80)))
    assert all(np.array_equal(still[0], f) for f in still)
    for preset in ("pan_left", "circle", "dolly_in"):
        loop = list(render_frames(img, disp, Motion(preset=preset, loop=True, easing="linear"), 10, (120, 80)))

        def change(a, b):
            return np.abs(a.astype(int) - b).mean()

        steps = [change(a, b) for a, b in zip(loop, loop[1:])]
        # the clip ends where it began: from the last frame back to the first is one
        # ordinary step, and half-way it is farthest from the start
        assert change(loop[-1], loop[0]) <= 1.5 * max(steps)
        assert max(change(f, loop[0]) for f in loop) > 2 * change(loop[-1], loop[0])


def test_contain_shows_the_whole_picture_without_black_bands():
    img, disp = scene()  # 240x150, shown in a square frame: bands above and below
    framed = list(render_frames(img, disp, Motion(preset="static"), 1, (120, 120), fit="contain"))[0]
    covered = list(render_frames(img, disp, Motion(preset="static"), 1, (120, 120), fit="cover"))[0]
    assert framed.min() > 30  # the bands are an inpainted continuation, never black
    # contain shows the full width (the left and right edges of the picture), cover crops
    small = cv2_resize(img, (120, 75))  # the picture fitted whole: rows 22.5 to 97.5
    assert np.abs(framed[30:90, :10].astype(int) - small[7:67, :10]).mean() < 10
    assert np.abs(covered[30:90, :10].astype(int) - small[7:67, :10]).mean() > 10


def test_render_frames_accepts_disparity_at_another_resolution():
    img, disp = scene()
    small = np.ascontiguousarray(disp[::2, ::2])
    out = list(render_frames(img, small, Motion(preset="pan_up"), 2, (96, 64)))
    assert len(out) == 2 and out[0].shape == (64, 96, 3)


def test_render_frames_rejects_unnormalised_disparity_eagerly():
    img, disp = scene()
    with pytest.raises(ValueError, match="prepare_disparity"):
        render_frames(img, disp * 20, Motion(), 3, (96, 64))
    with pytest.raises(ValueError):
        render_frames(img, disp, Motion(), 0, (96, 64))


def test_frame_is_fast_enough():
    img = textured(360, 640)
    disp = cv2_blur_disparity(360, 640)
    frames = render_frames(img, disp, Motion(preset="circle", amount=0.1), 8, (640, 360))
    next(frames)
    start = time.perf_counter()
    for _ in frames:
        pass
    per_frame = (time.perf_counter() - start) / 7
    assert per_frame < 0.1  # target ~10 ms at 640x360; generous for slow CI
