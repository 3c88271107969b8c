"""yuv: tests."""

from __future__ import annotations

import av
import numpy as np
import pytest

from parallax_pipeline.engine.video.yuv import to_picture
from tests.video_frames import gradient, yuv_planes


@pytest.mark.parametrize("size", [(320, 180), (160, 90)])  # 90 rows: chroma planes of odd height
def test_to_picture_matches_ffmpeg_bt709_conversion(size):
    """The compiled conversion against swscale's BT.709 limited-range one: luma within a
    level everywhere, chroma within a level where the picture is smooth (the two
    subsample chroma with different filters, so they differ across sharp edges), for
    RGB and RGBA (strided) input alike; flat colours exact."""
    w, h = size
    rng = np.random.default_rng(1)
    patches = np.kron(rng.integers(0, 256, (h // 10, w // 10, 3)), np.ones((10, 10, 1))).astype(np.uint8)
    smooth = np.zeros((h // 2, w // 2), bool)  # chroma samples in the middle of a patch
    smooth[2::5, 2::5] = True
    checks = [(gradient(3, w, h), np.ones_like(smooth)), (patches, smooth)]
    for rgb, where in checks + [(np.full((h, w, 3), (200, 30, 90), np.uint8), np.ones_like(smooth))]:
        buffer = np.zeros((h + 6, w + 8, 4), np.uint8)  # RGBA rows strided, as the renderer hands them
        rgba = buffer[:h, :w]
        rgba[..., :3], rgba[..., 3] = rgb, 255
        reference = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
        )
        want = yuv_planes(reference)
        for frame in (rgb, rgba):
            picture = to_picture(frame)
            assert (picture.width, picture.height, picture.format.name) == (w, h, "yuv420p")
            got = yuv_planes(picture)
            assert np.abs(got[0] - want[0]).max() <= 1
            assert all(np.abs(g - c)[where].max() <= 1 for g, c in zip(got[1:], want[1:]))
    assert all(np.array_equal(g, c) for g, c in zip(got, want))  # the flat colour, exactly
