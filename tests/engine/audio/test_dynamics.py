"""Ducking curves and the true-peak limiter, against brute-force references and an
independent true-peak measurement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE, slew_limit_below, window_max
from parallax_pipeline.engine.audio.dynamics import (
    control_to_samples,
    duck_curve_db,
    limit_true_peak,
    speech_activity,
)
from parallax_pipeline.engine.audio.loudness import true_peak
from parallax_pipeline.engine.audio.settings import Ducking


def test_slew_limit_below_matches_its_definition():
    rng = np.random.default_rng(3)
    ceiling = rng.uniform(-10, 0, 300) * (rng.random(300) < 0.1)
    fall, rise = 0.7, 0.2
    got = slew_limit_below(ceiling, fall, rise)
    k = np.arange(300)
    brute = np.array(
        [np.min(ceiling + np.where(k >= n, fall * (k - n), rise * (n - k))) for n in range(300)]
    )
    np.testing.assert_allclose(got, brute, atol=1e-9)
    assert np.all(got <= ceiling + 1e-12)
    steps = np.diff(got)
    assert steps.min() >= -fall - 1e-9 and steps.max() <= rise + 1e-9


def test_window_max_matches_brute_force():
    values = np.random.default_rng(4).standard_normal(500)
    got = window_max(values, before=7, after=3)
    brute = np.array([values[max(0, i - 7) : i + 4].max() for i in range(500)])
    np.testing.assert_array_equal(got, brute)


def test_duck_curve_attack_hold_release():
    ducking = Ducking(depth=8.0, attack=0.2, hold=0.5, release=1.0)
    ms = np.arange(8000)
    # Speech 1-2 s, a 3 s pause, speech 5-6 s, a 0.4 s gap, speech 6.4-7 s.
    active = ((ms >= 1000) & (ms < 2000)) | ((ms >= 5000) & (ms < 6000)) | ((ms >= 6400) & (ms < 7000))
    curve = duck_curve_db(active, ducking)
    assert curve[:700].max() == pytest.approx(8.0)  # music up before anyone speaks
    assert curve[1000:2000].max() == 0.0  # down for every word, from the first one
    assert curve[2000:2500].max() == 0.0  # held
    assert 0.0 < curve[3000] < 8.0  # half way through the release
    assert curve[3500:4800].min() == pytest.approx(8.0)  # back up after hold + release
    assert curve[4790] == pytest.approx(8.0) and curve[4810] < 8.0 and curve[5000] == 0.0  # attack leads the word
    assert curve[6000:6400].max() == 0.0  # a short gap never lets the music up
    assert np.abs(np.diff(curve)).max() < 8.0 / 200 * 1.5 + 1e-9  # no jumps: S-shaped ramps
    assert duck_curve_db(active, Ducking(depth=0)).max() == 0.0


def test_speech_activity_follows_the_voice():
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    voice = np.stack([0.1 * np.sin(2 * np.pi * 300 * t) * ((t > 1) & (t < 2))] * 2)
    active = speech_activity(voice, speech_level_db=-20.0, threshold_db=-25.0)
    assert active.size == 3000
    assert not active[:990].any() and active[1010:1990].all() and not active[2010:].any()


@pytest.mark.parametrize("steps,length", [(1, 48), (3, 1000), (10, 460), (10, 500), (1000, 47_999)])
def test_control_curve_is_interpolated_per_sample(steps, length):
    curve = np.random.default_rng(steps).random(steps)
    centres = (np.arange(steps) + 0.5) * 48  # each 1 ms value belongs at the middle of its step
    expected = np.interp(np.arange(length), centres, curve)
    np.testing.assert_allclose(control_to_samples(curve, length), expected, atol=1e-6)


def independent_true_peak(signal: np.ndarray, factor: int = 8) -> float:
    """FFT oversampling (zero-padded spectrum) of the whole signal: a second opinion."""
    n = signal.shape[1]
    upsampled = np.fft.irfft(np.fft.rfft(signal.astype(np.float64), axis=1), n * factor, axis=1) * factor
    return 20 * math.log10(np.abs(upsampled).max())


def peaky_programme(seconds: float = 4.0) -> np.ndarray:
    """Quiet music-like noise with a few loud transients (drum hits, plosives), band-limited
    to 20 kHz like real recordings (BS.1770's 4x true-peak meter is specified for that)."""
    rng = np.random.default_rng(11)
    n = round(seconds * SAMPLE_RATE)
    signal = 0.05 * rng.standard_normal((2, n))
    for at in (0.7, 1.9, 2.0, 3.1):
        start = round(at * SAMPLE_RATE)
        hit = 0.9 * np.exp(-np.arange(2400) / 300) * rng.standard_normal(2400)
        signal[:, start : start + 2400] += hit
    # Fade the ends so the FFT's wrap-around (periodic) view has no step there.
    ramp = np.linspace(0, 1, 480)
    signal[:, :480] *= ramp
    signal[:, -480:] *= ramp[::-1]
    spectrum = np.fft.rfft(signal, axis=1)
    spectrum[:, round(n * 20_000 / SAMPLE_RATE) :] = 0
    return np.fft.irfft(spectrum, n, axis=1).astype(np.float32)


def test_limiter_keeps_the_true_peak_without_clipping():
    signal = peaky_programme()
    assert true_peak(signal) > 0.0  # it would clip as it is
    result = limit_true_peak(signal, -1.0, gain_db=2.0)
    out = result.samples
    assert result.true_peak_dbtp <= -1.0 + 1e-3
    assert independent_true_peak(out) <= -1.0 + 0.02
    assert result.max_reduction_db > 3.0
    gain = 10 ** (2.0 / 20)
    # Gain only: the waveform is scaled, never reshaped (no clipping, no sign flips).
    ratio = out[signal != 0] / (signal[signal != 0] * gain)
    assert ratio.min() > 0 and ratio.max() <= 1 + 1e-5
    # Far from the hits the signal passes untouched, apart from the gain.
    quiet = slice(round(0.2 * SAMPLE_RATE), round(0.6 * SAMPLE_RATE))
    np.testing.assert_allclose(out[:, quiet], signal[:, quiet] * gain, rtol=1e-6)
    # Look-ahead: the gain is already down before the first hit.
    hit = round(0.7 * SAMPLE_RATE)
    assert ratio_at(out, signal * gain, hit - 48) < 0.95


def ratio_at(out: np.ndarray, reference: np.ndarray, index: int) -> float:
    return float(np.abs(out[:, index]).sum() / np.abs(reference[:, index]).sum())


def test_limiter_passes_a_signal_under_the_ceiling_bit_for_bit():
    signal = peaky_programme()
    signal *= np.float32(10 ** ((-3.0 - true_peak(signal)) / 20))  # true peak -3 dBTP
    result = limit_true_peak(signal, -2.9)
    assert result.max_reduction_db == 0.0
    np.testing.assert_array_equal(result.samples, signal)
    assert result.true_peak_dbtp == pytest.approx(true_peak(signal), abs=1e-4)
