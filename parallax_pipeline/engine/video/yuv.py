"""RGB(A) frames to the yuv420p pictures x264 takes (BT.709, limited range), compiled.

`words_to_yuv420` / `rgb_to_yuv420` write a frame straight into an `av.VideoFrame`'s
planes in a third of swscale's time, releasing the GIL, so render workers convert their
own frames while the encoder runs. Importing this module imports numba and loads the
compiled code (cached in ``__pycache__`` after the first run), so `codec` and `clip`
import it when they first encode, not at import time.
"""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace
from numba import njit


def to_picture(frame: np.ndarray) -> av.VideoFrame:
    """A uint8 HxWx3 RGB or HxWx4 RGBA frame (alpha ignored; rows may be strided) as
    the picture `VideoWriter` encodes: yuv420p, BT.709 limited range (the matrix the
    stream is tagged with), chroma the mean of each 2x2 square. Converted by compiled
    code that releases the GIL (`words_to_yuv420`: a third of swscale's time)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError(f"frame must be a uint8 numpy array, got {getattr(frame, 'dtype', type(frame))}")
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ValueError(f"frame must be HxWx3 RGB or HxWx4 RGBA of even size, got {frame.shape}")
    h, w, channels = frame.shape
    picture = av.VideoFrame(w, h, "yuv420p")
    y, u, v = (
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :cols]  # written in place
        for plane, rows, cols in zip(picture.planes, (h, h // 2, h // 2), (w, w // 2, w // 2))
    )
    if channels == 4 and frame.strides[1:] == (4, 1) and frame.strides[0] % 4 == 0:
        words_to_yuv420(frame.view(np.uint32)[..., 0], y, u, v)
    else:
        rgb_to_yuv420(frame, y, u, v)
    picture.colorspace, picture.color_range = Colorspace.ITU709, ColorRange.MPEG
    return picture



# BT.709 limited range (the matrix the video streams are tagged with): luma from R, G, B
# in 1/16384, and chroma from the sums of 2x2 pixels in 1/65536 (each coefficient /4)
_Y_R, _Y_G, _Y_B = 2992, 10063, 1016
_CB_R, _CB_G, _CB_B = -1649, -5547, 7196
_CR_R, _CR_G, _CR_B = 7196, -6536, -660
_Y_BIAS = (16 << 14) + (1 << 13)
_C_BIAS = (128 << 16) + (1 << 15)


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _luma(r, g, b):  # pragma: no cover - compiled
    return np.uint8((_Y_R * r + _Y_G * g + _Y_B * b + _Y_BIAS) >> 14)


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _chroma(r, g, b, u, v, c):  # pragma: no cover - compiled
    """Chroma of one 2x2 square from its R, G, B sums."""
    u[c] = np.uint8((_CB_R * r + _CB_G * g + _CB_B * b + _C_BIAS) >> 16)
    v[c] = np.uint8((_CR_R * r + _CR_G * g + _CR_B * b + _C_BIAS) >> 16)


@njit(nogil=True, cache=True, error_model="numpy")
def words_to_yuv420(words, y_plane, u_plane, v_plane):  # pragma: no cover - compiled
    """RGBA pixels as packed words (uint32 H x W, red in the low byte; alpha ignored; H
    and W even) to yuv420p planes (Y H x W, U and V H/2 x W/2; chroma the mean of each
    2x2 square)."""
    m = np.uint32(255)
    for r in range(0, y_plane.shape[0], 2):
        a, b = words[r], words[r + 1]
        ya, yb, u, v = y_plane[r], y_plane[r + 1], u_plane[r // 2], v_plane[r // 2]
        for x in range(y_plane.shape[1]):
            p, q = a[x], b[x]
            ya[x] = _luma(np.int32(p & m), np.int32((p >> np.uint32(8)) & m), np.int32((p >> np.uint32(16)) & m))
            yb[x] = _luma(np.int32(q & m), np.int32((q >> np.uint32(8)) & m), np.int32((q >> np.uint32(16)) & m))
        for c in range(u.shape[0]):
            p, q, s, t = a[2 * c], a[2 * c + 1], b[2 * c], b[2 * c + 1]
            red = (p & m) + (q & m) + (s & m) + (t & m)
            p, q, s, t = p >> np.uint32(8), q >> np.uint32(8), s >> np.uint32(8), t >> np.uint32(8)
            green = (p & m) + (q & m) + (s & m) + (t & m)
            p, q, s, t = p >> np.uint32(8), q >> np.uint32(8), s >> np.uint32(8), t >> np.uint32(8)
            blue = (p & m) + (q & m) + (s & m) + (t & m)
            _chroma(np.int32(red), np.int32(green), np.int32(blue), u, v, c)


@njit(nogil=True, cache=True, error_model="numpy")
def rgb_to_yuv420(frame, y_plane, u_plane, v_plane):  # pragma: no cover - compiled
    """`words_to_yuv420` for uint8 H x W x 3 (or x 4) pixels (H and W even)."""
    for r in range(0, y_plane.shape[0], 2):
        a, b = frame[r], frame[r + 1]
        ya, yb, u, v = y_plane[r], y_plane[r + 1], u_plane[r // 2], v_plane[r // 2]
        for x in range(y_plane.shape[1]):
            ya[x] = _luma(np.int32(a[x, 0]), np.int32(a[x, 1]), np.int32(a[x, 2]))
            yb[x] = _luma(np.int32(b[x, 0]), np.int32(b[x, 1]), np.int32(b[x, 2]))
        for c in range(u.shape[0]):
            x = 2 * c
            red = np.int32(a[x, 0]) + np.int32(a[x + 1, 0]) + np.int32(b[x, 0]) + np.int32(b[x + 1, 0])
            green = np.int32(a[x, 1]) + np.int32(a[x + 1, 1]) + np.int32(b[x, 1]) + np.int32(b[x + 1, 1])
            blue = np.int32(a[x, 2]) + np.int32(a[x + 1, 2]) + np.int32(b[x, 2]) + np.int32(b[x + 1, 2])
            _chroma(red, green, blue, u, v, c)
