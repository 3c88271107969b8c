"""The BS.1770-4 meter against EBU Tech 3341/3342 reference signals and pyloudnorm, and the
true-peak meter against exact peaks and an independent FFT oversampler."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest

from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.audio.loudness import (
    clip_loudness,
    integrated_loudness,
    loudness_range_from_energies,
    measure,
    subblock_energies,
    true_peak,
    windowed_loudness,
)


def sine(dbfs: float, seconds: float, freq: float = 1000.0, phase: float = 0.0) -> np.ndarray:
    """EBU test tone: stereo sine of peak level ``dbfs`` on both channels."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.stack([10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)] * 2)


def sequence(*parts: tuple[float, float]) -> np.ndarray:
    return np.concatenate([sine(level, seconds) for level, seconds in parts], axis=1)


@pytest.mark.parametrize(
    "signal,expected",
    [
        (sequence((-23, 20)), -23.0),  # Tech 3341 case 1
        (sequence((-33, 20)), -33.0),  # case 2
        (sequence((-36, 10), (-23, 60), (-36, 10)), -23.0),  # case 3: relative gate
        (sequence((-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)), -23.0),  # case 4: both gates
        (sequence((-26, 20), (-20, 20.1), (-26, 20)), -23.0),  # case 5
    ],
    ids=["3341-1", "3341-2", "3341-3", "3341-4", "3341-5"],
)
def test_integrated_loudness_meets_ebu_tech_3341(signal, expected):
    assert integrated_loudness(signal) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize(
    "parts,expected",
    [
        (((-20, 20), (-30, 20)), 10.0),  # Tech 3342 case 1
        (((-20, 20), (-15, 20)), 5.0),  # case 2
        (((-40, 20), (-20, 20)), 20.0),  # case 3
        (((-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)), 15.0),  # case 4
    ],
    ids=["3342-1", "3342-2", "3342-3", "3342-4"],
)
def test_loudness_range_meets_ebu_tech_3342(parts, expected):
    assert loudness_range_from_energies(subblock_energies(sequence(*parts))) == pytest.approx(expected, abs=1.0)


def programme(seed: int, seconds: float = 12.0) -> np.ndarray:
    """Noise with a syllable-like envelope, pauses and a coloured spectrum: not a sine."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SAMPLE_RATE)
    noise = rng.standard_normal((2, n))
    spectrum = np.fft.rfft(noise, axis=1)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum *= 1 / np.sqrt(np.maximum(freqs, 20))  # pinkish
    coloured = np.fft.irfft(spectrum, n, axis=1)
    t = np.arange(n) / SAMPLE_RATE
    envelope = np.abs(np.sin(2 * np.pi * 1.7 * t)) ** 2 * (np.sin(2 * np.pi * 0.13 * t) > -0.5)
    out = coloured * envelope
    return out / np.abs(out).max() * 10 ** (rng.uniform(-30, -6) / 20)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_integrated_loudness_agrees_with_pyloudnorm(seed):
    signal = programme(seed)
    reference = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(signal.T)
    assert integrated_loudness(signal) == pytest.approx(reference, abs=0.1)


def test_momentary_and_short_term_loudness_of_a_steady_tone():
    energies = subblock_energies(sine(-23, 10))
    momentary, short_term = windowed_loudness(energies, 4), windowed_loudness(energies, 30)
    assert len(momentary) == 100 - 3 and len(short_term) == 100 - 29
    np.testing.assert_allclose(momentary, -23.0, atol=0.1)
    np.testing.assert_allclose(short_term, -23.0, atol=0.1)


def test_silence_and_short_clips():
    assert integrated_loudness(np.zeros((2, SAMPLE_RATE))) == -math.inf
    assert clip_loudness(np.zeros((2, 100))) == -math.inf
    # 0.2 s is shorter than a gating block: measured over its own length instead.
    click = sine(-23, 0.2)
    assert integrated_loudness(click) == -math.inf
    assert clip_loudness(click) == pytest.approx(-23.0, abs=0.2)


def faded(signal: np.ndarray, seconds: float = 0.1) -> np.ndarray:
    """Fade the ends in and out: a sine switched on abruptly really does overshoot its
    amplitude between samples (band-limited ringing), which is not what is tested here."""
    n = round(seconds * SAMPLE_RATE)
    ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
    out = signal.copy()
    out[:, :n] *= ramp
    out[:, -n:] *= ramp[::-1]
    return out


def test_true_peak_finds_peaks_between_samples():
    # A sine at fs/4 sampled 45° off its crest: every sample is 3 dB under the true peak.
    tone = faded(sine(-6.0, 2.0, freq=SAMPLE_RATE / 4, phase=math.pi / 4))
    assert 20 * math.log10(np.abs(tone).max()) == pytest.approx(-9.01, abs=0.01)
    assert true_peak(tone) == pytest.approx(-6.0, abs=0.05)
    for freq, phase in ((997.0, 0.3), (5000.0, 1.1), (19000.0, 2.0)):
        assert true_peak(faded(sine(-3.0, 1.0, freq, phase))) == pytest.approx(-3.0, abs=0.05), freq
    # Near the top of the band, crests falling between the 4x points are still found.
    for phase in np.linspace(0, 2 * math.pi, 9)[:-1]:
        assert true_peak(faded(sine(-3.0, 0.5, 18_000.0, phase))) == pytest.approx(-3.0, abs=0.03), phase


def fft_true_peak(signal: np.ndarray, factor: int = 16) -> float:
    """Independent check: ideal band-limited interpolation of a periodic signal by zero
    padding its spectrum, ``factor`` times oversampled."""
    n = signal.shape[1]
    spectrum = np.fft.rfft(signal, axis=1)
    upsampled = np.fft.irfft(spectrum, n * factor, axis=1) * factor
    return 20 * math.log10(np.abs(upsampled).max())


def test_true_peak_agrees_with_fft_oversampling():
    rng = np.random.default_rng(7)
    n = SAMPLE_RATE // 2
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    spectrum[:, int(n * 20_000 / SAMPLE_RATE) :] = 0  # band-limited to 20 kHz, like real audio
    signal = np.fft.irfft(spectrum, n, axis=1)
    signal *= 0.5 / np.abs(signal).max()
    # Periodic, so the FFT interpolation is exact; tile it so the FIR sees the wrap too.
    tiled = np.tile(signal, (1, 3))
    assert true_peak(tiled) == pytest.approx(fft_true_peak(signal), abs=0.1)
    assert true_peak(tiled) > 20 * math.log10(0.5)  # inter-sample peaks above the sample peak


def test_measure_reports_everything():
    report = measure(sequence((-20, 20), (-30, 20)))
    assert report.loudness_range_lu == pytest.approx(10.0, abs=1.0)
    assert report.sample_peak_dbfs == pytest.approx(-20.0, abs=0.01)
    assert report.true_peak_dbtp == pytest.approx(-20.0, abs=0.1)
    assert -24 < report.integrated_lufs < -20
    metadata = report.as_metadata("delivered_")
    assert set(metadata) == {
        "delivered_integrated_lufs",
        "delivered_true_peak_dbtp",
        "delivered_loudness_range_lu",
        "delivered_sample_peak_dbfs",
    }
    assert measure(np.zeros((2, 1000))).as_metadata()["integrated_lufs"] == "-inf"
