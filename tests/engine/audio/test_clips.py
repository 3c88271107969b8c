from __future__ import annotations

import numpy as np

from parallax_pipeline.engine.audio.clips import apply_fades, fit_length, place
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE


def test_fit_length_trim_and_pad():
    x = np.ones((2, 100), np.float32)
    assert fit_length(x, 40).shape == (2, 40)
    padded = fit_length(x, 150)
    assert padded.shape == (2, 150)
    assert padded[:, :100].min() == 1 and padded[:, 100:].max() == 0


def test_fit_length_loop_has_no_click_at_loop_points():
    # 0.3 s of 440 Hz is not a whole number of periods: a plain repeat jumps at the seam.
    n = int(0.3 * SAMPLE_RATE) + 37
    t = np.arange(n) / SAMPLE_RATE
    clip = np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32) * 0.5
    smooth = np.abs(np.diff(clip[0])).max()
    naive = fit_length(clip, 5 * n, loop=True, crossfade=0)
    assert np.abs(np.diff(naive[0])).max() > 5 * smooth  # the click we want to avoid
    looped = fit_length(clip, 5 * n, loop=True)
    assert looped.shape == (2, 5 * n)
    assert np.abs(np.diff(looped[0])).max() < 1.5 * smooth
    np.testing.assert_array_equal(looped[:, : n - 2400], clip[:, : n - 2400])
    assert np.abs(looped).max() < 0.5 * np.sqrt(2) + 1e-3  # equal-power bound


def test_fit_length_loops_a_very_short_clip():
    clip = np.ones((2, 10), np.float32)
    assert fit_length(clip, 10_000, loop=True).shape == (2, 10_000)


def test_place_is_sample_exact_and_clipped_to_track():
    track = np.zeros((2, 1000), np.float32)
    clip = np.ones((2, 100), np.float32)
    place(track, clip, 250, gain=0.5)
    nz = np.flatnonzero(track[0])
    assert (nz[0], nz[-1]) == (250, 349) and track[0, 250] == 0.5
    place(track, clip, -40)  # only the last 60 samples fit
    assert np.flatnonzero(track[1])[:2].tolist() == [0, 1] and track[1, 59] == 1 and track[1, 60] == 0
    place(track, clip, 950)
    assert track[0, 949] == 0 and track[0, 999] == 1
    place(track, clip, 5000)  # entirely outside: no-op, no error


def test_apply_fades_shapes_the_ends_only():
    clip = np.ones((2, 1000), np.float32)
    faded = apply_fades(clip, fade_in=100, fade_out=200)
    assert faded[0, 0] < 0.001 and faded[0, 99] > 0.99 and np.all(np.diff(faded[0, :100]) > 0)
    assert np.all(faded[:, 100:800] == 1.0)
    assert faded[0, -1] < 0.001 and np.all(np.diff(faded[0, 800:]) < 0)
    assert np.all(clip == 1.0)  # a copy: the input is untouched
    assert np.array_equal(apply_fades(clip, 5000, 0)[0, :10] > 0, np.ones(10, bool))  # fade longer than clip
