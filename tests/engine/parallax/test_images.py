"""Loading still images and fitting them to a frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.parallax.images import cover_crop, fit_scale, load_image, place_on_canvas


def _rgb(h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 255 // (w - 1), yy * 255 // (h - 1), np.full((h, w), 90)]).astype(np.uint8)


def _write(path: Path, array: np.ndarray, ext: str, params: list[int] | None = None) -> Path:
    ok, data = cv2.imencode(ext, array, params or [])
    assert ok
    path.write_bytes(data.tobytes())
    return path


def test_png_roundtrip_with_unicode_path(tmp_path):
    img = _rgb()
    path = _write(tmp_path / "bild_ü_景色.png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), ".png")
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, img)  # RGB order, exact


def test_jpeg(tmp_path):
    img = _rgb()
    path = _write(tmp_path / "photo.jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = load_image(str(path))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).mean() < 3


def test_jpeg_exif_orientation_is_applied(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = (250, 20, 20)  # left half red, stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    path = tmp_path / "phone.jpg"
    Image.fromarray(img).save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.shape == (40, 20, 3)  # upright: portrait
    assert out[:18, :, 0].mean() > 200 and out[22:, :, 0].mean() < 60  # red half now on top


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = _rgb()[:, :, 0]
    out = load_image(_write(tmp_path / "g.png", gray, ".png"))
    assert out.shape == (48, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_sixteen_bit_is_scaled_to_eight(tmp_path):
    data = np.zeros((4, 4, 3), np.uint16)
    data[0, 0] = 65535
    data[1, 1] = 257 * 100
    out = load_image(_write(tmp_path / "deep.png", data, ".png"))
    assert out.dtype == np.uint8
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[1, 1]) == (100, 100, 100) and out[2, 2].max() == 0


def test_alpha_is_composited_over_white(tmp_path):
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 2] = 200  # red
    bgra[..., 3] = 255
    bgra[0, 0, 3] = 0  # fully transparent
    bgra[1, 1, 3] = 128  # half
    out = load_image(_write(tmp_path / "cut.png", bgra, ".png"))
    assert out.shape == (4, 4, 3)
    assert tuple(out[2, 2]) == (200, 0, 0)
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert abs(int(out[1, 1, 0]) - 227) <= 2 and abs(int(out[1, 1, 1]) - 127) <= 2


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(MediaError, match="not found") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty") as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"this is not an image at all" * 10, b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"\xff\xd8\xff\xe0garbage"],
)
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(MediaError, match="decode") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_directory(tmp_path):
    with pytest.raises(MediaError) as info:
        load_image(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_media_error_is_a_value_error():
    assert issubclass(MediaError, ValueError)


@pytest.mark.parametrize("size", [(160, 90), (90, 160), (100, 100), (640, 360), (33, 77)])
def test_cover_crop_sizes(size):
    img = _rgb(120, 200)
    out = cover_crop(img, size)
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    disp = np.random.default_rng(0).random((120, 200)).astype(np.float32)
    d = cover_crop(disp, size)
    assert d.shape == (size[1], size[0]) and d.dtype == np.float32


def test_cover_crop_keeps_the_centre_and_aspect():
    img = np.zeros((200, 400, 3), np.uint8)
    cv2.circle(img, (200, 100), 40, (255, 255, 255), -1)  # a round disc at the centre
    out = cover_crop(img, (100, 100))  # 1:1 from 2:1: sides cut, scale 0.5
    ys, xs = np.nonzero(out[:, :, 0] > 127)
    assert abs(xs.mean() - 49.5) < 1 and abs(ys.mean() - 49.5) < 1
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 1  # still round
    assert 38 <= xs.max() - xs.min() + 1 <= 42  # radius 40 -> 20
    tall = cover_crop(img, (90, 160))  # 9:16 from 2:1: a narrow centre strip, enlarged
    ys, xs = np.nonzero(tall[:, :, 0] > 127)
    assert abs(xs.mean() - 44.5) < 1.5 and abs(ys.mean() - 79.5) < 1.5


def test_cover_crop_aligns_image_and_disparity():
    img = _rgb(90, 250)
    disp = img[:, :, 0].astype(np.float32) / 255.0
    for size in [(64, 36), (36, 64), (300, 300)]:
        a = cover_crop(img, size)[:, :, 0].astype(np.float32) / 255.0
        b = cover_crop(disp, size)
        assert np.abs(a - b).max() <= 1.0 / 255 + 1e-6


def test_cover_crop_shrinks_with_area_averaging():
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = cover_crop(np.dstack([checker] * 3), (32, 32))
    assert np.abs(out.astype(int) - 128).max() <= 1  # INTER_AREA: no aliasing


def test_cover_crop_same_size_is_a_copy():
    img = _rgb()
    out = cover_crop(img, (64, 48))
    np.testing.assert_array_equal(out, img)
    out[0, 0] = 0
    assert img[0, 0, 2] == 90


def test_cover_crop_bad_size():
    with pytest.raises(ValueError):
        cover_crop(_rgb(), (0, 10))


# ---- fitting a picture to a frame and placing it on a canvas ---------------------------


def test_fit_scale_cover_and_contain():
    assert fit_scale((400, 300), (160, 90), "cover") == pytest.approx(0.4)  # width 160 / 400
    assert fit_scale((400, 300), (160, 90), "contain") == pytest.approx(0.3)  # height 90 / 300
    with pytest.raises(ValueError, match="fit"):
        fit_scale((400, 300), (160, 90), "stretch")


@pytest.mark.parametrize("scale", [1.0, 1.17, 0.5, 0.3])
def test_place_on_canvas_keeps_a_picture_and_its_disparity_aligned(scale):
    img = _rgb(90, 250)
    disp = img[:, :, 0].astype(np.float32) / 255.0  # the same ramp as the red channel
    canvas, known = place_on_canvas(img, scale, (180, 120))
    canvas_d, known_d = place_on_canvas(disp, scale, (180, 120))
    assert canvas.shape == (120, 180, 3) and canvas_d.shape == (120, 180)
    np.testing.assert_array_equal(known, known_d)
    a = canvas[:, :, 0].astype(np.float32) / 255.0
    assert np.abs(a - canvas_d)[known].max() <= 2.0 / 255
    # the picture is centred: its middle column lands on the canvas middle
    h, w = known.shape
    cols = np.flatnonzero(known.any(axis=0))
    rows = np.flatnonzero(known.any(axis=1))
    assert (cols[0] + cols[-1]) / 2 == pytest.approx((w - 1) / 2, abs=1)
    assert (rows[0] + rows[-1]) / 2 == pytest.approx((h - 1) / 2, abs=1)
    assert cols.size == pytest.approx(min(w, 250 * scale), abs=1.5)
    assert rows.size == pytest.approx(min(h, 90 * scale), abs=1.5)


def test_place_on_canvas_marks_what_lies_outside_the_picture():
    img = np.full((40, 60, 3), 200, np.uint8)
    canvas, known = place_on_canvas(img, 1.0, (80, 50))
    assert known.sum() == 40 * 60 and not known[:, :10].any() and not known[:5].any()
    assert (canvas[known] == 200).all()
