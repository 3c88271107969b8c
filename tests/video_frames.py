"""Shared helpers of the tests split from test_encode.py."""

from __future__ import annotations

import av
import numpy as np

from parallax_pipeline.engine.video.codec import VideoSettings

SMALL = VideoSettings(width=320, height=180, fps=24)


def gradient(i: int, w: int = 320, h: int = 180) -> np.ndarray:
    """A smooth colour gradient that moves 4 px per frame."""
    x = np.arange(w)[None, :]
    y = np.arange(h)[:, None]
    frame = np.empty((h, w, 3), np.uint8)
    frame[..., 0] = ((x + 4 * i) * 255 // (w + 200)) % 256
    frame[..., 1] = y * 255 // h
    frame[..., 2] = 255 - (x + y) * 255 // (w + h)
    return frame


def solid(rgb, n, w=320, h=180):
    return [np.full((h, w, 3), rgb, np.uint8) for _ in range(n)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def yuv_planes(picture: av.VideoFrame) -> list[np.ndarray]:
    """Y, U, V of a yuv420p picture as int arrays (H x W, H/2 x W/2, H/2 x W/2)."""
    w, h = picture.width, picture.height
    return [
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :cols].astype(int)
        for plane, rows, cols in zip(picture.planes, (h, h // 2, h // 2), (w, w // 2, w // 2))
    ]


def video_packets(path):
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]
