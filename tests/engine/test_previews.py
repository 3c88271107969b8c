"""Preview images: data URIs decode back to pictures of the expected size."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from parallax_pipeline.engine.previews import jpeg_data_uri, markdown_image, png_data_uri, waveform_image


def decode_uri(uri: str, mime: str) -> np.ndarray:
    prefix = f"data:{mime};base64,"
    assert uri.startswith(prefix)
    raw = base64.b64decode(uri[len(prefix) :])
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)


def test_png_data_uri_downscales_to_max_width():
    image = np.zeros((360, 640, 3), np.uint8)
    image[..., 0] = 255  # pure red in RGB
    uri = png_data_uri(image)
    raw = base64.b64decode(uri.split(",", 1)[1])
    assert raw.startswith(b"\x89PNG")
    picture = decode_uri(uri, "image/png")
    assert picture.shape == (180, 320, 3)
    assert tuple(picture[90, 160]) == (0, 0, 255)  # BGR: channel order survived


def test_gray_and_small_images_are_not_enlarged():
    gray = np.tile(np.arange(100, dtype=np.uint8), (50, 1))
    picture = decode_uri(png_data_uri(gray, max_width=320), "image/png")
    assert picture.shape == (50, 100)
    np.testing.assert_array_equal(picture, gray)


def test_jpeg_and_markdown_image():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert decode_uri(jpeg_data_uri(photo, 200), "image/jpeg").shape == (150, 200, 3)
    md = markdown_image(photo, "scene [1]", max_width=160)
    assert md.startswith("![scene (1)](data:image/")
    assert md.endswith(")")


def test_waveform_image_draws_envelope_and_axis():
    sr = 48000
    t = np.arange(3 * sr) / sr
    left = 0.9 * np.sin(2 * np.pi * 200 * t)
    samples = np.stack([left, np.zeros_like(left)]).astype(np.float32)
    image = waveform_image(samples, width=300, height=120)
    assert image.shape == (120, 300, 3) and image.dtype == np.uint8
    lane = image[: (120 - 16) // 2]
    drawn = (lane != lane[0, 0]).any(axis=2)
    assert drawn.mean() > 0.8  # the loud channel fills most of its lane
    quiet_lane = image[(120 - 16) // 2 : 120 - 16]
    assert (quiet_lane != quiet_lane[0, 0]).any(axis=2).mean() < 0.1  # silence: a thin line
    axis_row = image[120 - 16]
    assert (axis_row != image[0, 0]).any(axis=1).all()  # a full-width time axis
    # empty input still yields a picture
    assert waveform_image(np.zeros((2, 0), np.float32)).shape == (160, 640, 3)


def test_bad_preview_input_raises():
    with pytest.raises(ValueError):
        png_data_uri(np.zeros((10, 10, 3), np.float32))
