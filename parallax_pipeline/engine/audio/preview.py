"""A picture of a mix for the UI: loudness over time of each bus and of the master.

Momentary loudness (400 ms) of the voice, music and effects buses is drawn as filled
bands in their own colours, the master's short-term loudness (3 s) as a white line,
and the target as a dashed line, on a LUFS scale with a time axis. Where the music
ducks under the voice, the two bands visibly part by the mix's level difference.
"""

from __future__ import annotations

import cv2
import numpy as np

from parallax_pipeline.engine.audio.loudness import SUB_BLOCK, subblock_energies, windowed_loudness
from parallax_pipeline.engine.previews import draw_time_axis  # the waveform preview's axis, so both pictures read alike

TOP_LUFS, BOTTOM_LUFS = 0.0, -60.0
COLOURS = {  # RGB
    "music": (70, 170, 90),
    "effects": (240, 150, 50),
    "voice": (80, 150, 255),
}
_BG = (24, 24, 28)
_GRID = (60, 60, 66)
_TEXT = (170, 170, 170)
_MASTER = (235, 235, 235)
_TARGET = (220, 70, 70)


def _columns(series: np.ndarray, width: int, total_steps: int) -> np.ndarray:
    """A per-100-ms series resampled to pixel columns: the loudest value within each
    column, or where a column is narrower than a step, the step under its centre."""
    out = np.full(width, -np.inf)
    if series.size == 0 or total_steps == 0:
        return out
    if total_steps <= width:
        index = ((np.arange(width) + 0.5) * total_steps / width).astype(int)
        valid = index < series.size
        out[valid] = series[index[valid]]
        return out
    column = np.minimum((np.arange(series.size) * width) // total_steps, width - 1)
    np.maximum.at(out, column, series)
    return out


def mix_picture(
    buses: dict[str, np.ndarray],
    master: np.ndarray,
    target_lufs: float,
    bus_gain_db: float = 0.0,
    sample_rate: int = 48_000,
    width: int = 640,
    height: int = 220,
) -> np.ndarray:
    """uint8 RGB picture of loudness over time: one band per bus in ``buses`` (names from
    `COLOURS`, drawn back to front in that order) raised by ``bus_gain_db`` (the mastering
    gain, so the bands sit where they sound in the master), the ``master``'s short-term
    loudness and the ``target_lufs`` line."""
    axis_h = 16
    plot_h = height - axis_h
    if plot_h < 40 or width < 80:
        raise ValueError(f"mix picture {width}x{height} is too small")
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = _BG
    n = master.shape[1]
    steps = n // SUB_BLOCK

    def y_of(lufs: np.ndarray | float) -> np.ndarray:
        frac = (TOP_LUFS - np.clip(lufs, BOTTOM_LUFS, TOP_LUFS)) / (TOP_LUFS - BOTTOM_LUFS)
        return np.round(frac * (plot_h - 1)).astype(int)

    for level in range(int(TOP_LUFS) - 10, int(BOTTOM_LUFS), -10):
        y = int(y_of(level))
        img[y, :] = _GRID
        cv2.putText(img, f"{level}", (2, y - 2), cv2.FONT_HERSHEY_PLAIN, 0.7, _TEXT, 1, cv2.LINE_AA)

    rows = np.arange(plot_h)[:, None]
    plot = img[:plot_h]
    edges = []
    for name in COLOURS:
        if name not in buses:
            continue
        # Momentary loudness, placed at the end of its 400 ms window.
        momentary = windowed_loudness(subblock_energies(buses[name]), 4) + bus_gain_db
        series = np.concatenate([np.full(3, -np.inf), momentary])
        column = _columns(series, width, steps)
        audible = np.isfinite(column) & (column > BOTTOM_LUFS)
        top = np.where(audible, y_of(np.nan_to_num(column, neginf=BOTTOM_LUFS)), plot_h)
        mask = rows >= top[None, :]
        # Translucent fills, so a band behind another still shows through it...
        plot[mask] = (0.6 * plot[mask] + 0.4 * np.array(COLOURS[name])).astype(np.uint8)
        edges.append((name, top, audible))
    for name, top, audible in edges:
        # ...and each band's top edge drawn over all fills, so every level stays readable.
        columns = np.flatnonzero(audible)
        plot[top[columns], columns] = COLOURS[name]

    short_term = np.concatenate([np.full(29, -np.inf), windowed_loudness(subblock_energies(master), 30)])
    column = _columns(short_term, width, steps)
    points = [(x, int(y_of(v))) for x, v in enumerate(column) if np.isfinite(v) and v > BOTTOM_LUFS]
    if len(points) > 1:
        cv2.polylines(img, [np.array(points, np.int32)], False, _MASTER, 1, cv2.LINE_AA)
    y = int(y_of(target_lufs))
    img[y, (np.arange(width) // 6) % 2 == 0] = _TARGET

    legend = [("voice", COLOURS["voice"]), ("music", COLOURS["music"]), ("effects", COLOURS["effects"]),
              ("mix 3 s", _MASTER), (f"target {target_lufs:g} LUFS", _TARGET)]
    x = 40
    for text, colour in legend:
        cv2.putText(img, text, (x, 12), cv2.FONT_HERSHEY_PLAIN, 0.8, colour, 1, cv2.LINE_AA)
        x += 9 * len(text) + 12

    draw_time_axis(img, plot_h, n / sample_rate, _TEXT)
    return img
