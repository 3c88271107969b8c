"""The mix picture: loudness bands per bus, where and as high as they should be."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine.audio.preview import BOTTOM_LUFS, COLOURS, TOP_LUFS, mix_picture

RATE = 48_000


def tone(seconds: float, dbfs: float, freq: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.stack([10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)] * 2).astype(np.float32)


def edge_row(image: np.ndarray, column: int, colour) -> int | None:
    """Topmost row of a bus's edge colour in a column of the plot."""
    rows = np.flatnonzero(np.all(image[:, column] == colour, axis=1))
    return int(rows[0]) if rows.size else None


def test_bands_show_each_bus_at_its_loudness():
    seconds = 8.0
    voice = np.zeros((2, round(seconds * RATE)), np.float32)
    voice[:, : 3 * RATE] = tone(3.0, -20.0, 1000)  # speaks for 3 s (-20 LUFS)
    music = tone(seconds, -40.0, 1000)  # -40 LUFS throughout
    effects = np.zeros_like(voice)
    master = voice + music
    width, height = 400, 216  # plot 200 px high: 60 dB at 10 px per 3 dB
    image = mix_picture({"voice": voice, "music": music, "effects": effects}, master, -16.0,
                        bus_gain_db=6.0, width=width, height=height)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8

    def row_of(lufs: float) -> float:
        return (TOP_LUFS - lufs) / (TOP_LUFS - BOTTOM_LUFS) * (height - 16 - 1)

    speaking, silent = width * 2 // 8, width * 6 // 8  # columns at 2 s and 6 s
    # The buses are drawn 6 dB up (the mastering gain): voice at -14, music at -34 LUFS.
    assert edge_row(image, speaking, COLOURS["voice"]) == pytest.approx(row_of(-14.0), abs=2)
    assert edge_row(image, speaking, COLOURS["music"]) == pytest.approx(row_of(-34.0), abs=2)
    assert edge_row(image, silent, COLOURS["music"]) == pytest.approx(row_of(-34.0), abs=2)
    assert edge_row(image, silent, COLOURS["voice"]) is None  # silence draws nothing
    assert edge_row(image, speaking, COLOURS["effects"]) is None
    target_row = round(row_of(-16.0))
    assert (image[target_row] == (220, 70, 70)).all(axis=1).sum() > width // 3  # the dashed target line


def test_too_small_a_picture_is_refused():
    with pytest.raises(ValueError, match="too small"):
        mix_picture({}, np.zeros((2, RATE), np.float32), -16.0, width=40, height=30)
