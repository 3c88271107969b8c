"""Gain that follows the programme: ducking music under speech, and a true-peak limiter.

Both are computed offline on the whole signal, which allows what a real-time unit can
only approximate: the ducker lowers the music *before* the first word (its attack is
look-ahead), and the limiter's gain is, sample for sample, never above what keeps the
true peak under the ceiling, while moving no faster than its attack and release rates.
Gain curves are shaped in dB (ramps of so many dB per second), where level changes
sound even.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parallax_pipeline.engine.audio.dsp import (
    SAMPLE_RATE,
    db_to_gain,
    gain_to_db,
    merge_ranges,
    ranges_around,
    slew_limit_below,
    window_max,
)
from parallax_pipeline.engine.audio.loudness import (
    REFINE_WITHIN_DB,
    refine_true_peaks,
    region_true_peak,
    sample_true_peaks,
)
from parallax_pipeline.engine.audio.settings import Ducking

CONTROL_STEP = SAMPLE_RATE // 1000
"""Samples per step of the ducking gain curve (1 ms); it is interpolated per sample."""


def speech_activity(voice: np.ndarray, speech_level_db: float, threshold_db: float) -> np.ndarray:
    """Per 1 ms step, whether ``voice`` (channels, N) is speaking: its RMS over the
    surrounding 10 ms is above ``speech_level_db + threshold_db`` (dBFS)."""
    steps = voice.shape[1] // CONTROL_STEP
    if steps == 0:
        return np.zeros(0, bool)
    power = np.einsum("cn,cn->n", voice[:, : steps * CONTROL_STEP], voice[:, : steps * CONTROL_STEP])
    per_step = power.reshape(steps, CONTROL_STEP).sum(axis=1) / (CONTROL_STEP * voice.shape[0])
    window = np.ones(10) / 10
    rms_db = gain_to_db(np.sqrt(np.convolve(per_step, window, mode="same")))
    return rms_db > speech_level_db + threshold_db


def duck_curve_db(active: np.ndarray, ducking: Ducking) -> np.ndarray:
    """Music gain in dB per 1 ms step relative to its level: 0 while speaking (and
    ``hold`` after), ``+depth`` in long pauses, with look-ahead attack ramps that reach 0
    at each onset and release ramps after each hold, both S-shaped."""
    if ducking.depth == 0 or active.size == 0:
        return np.zeros(active.size)
    steps_per_s = 1000.0
    index = np.arange(active.size)
    last_active = np.maximum.accumulate(np.where(active, index, -(10**12)))
    held = (index - last_active) <= ducking.hold * steps_per_s
    ceiling = np.where(held, 0.0, 1.0)  # 0 = ducked, 1 = fully up
    up = slew_limit_below(
        ceiling,
        fall_per_step=1.0 / (ducking.attack * steps_per_s),
        rise_per_step=1.0 / (ducking.release * steps_per_s),
    )
    up = np.clip(up, 0.0, 1.0)
    # Smoothstep: each linear ramp becomes an S (no corner where it starts or ends);
    # 0 and 1 stay where they were, so the level under speech is untouched.
    return ducking.depth * up * up * (3.0 - 2.0 * up)


def control_to_samples(curve: np.ndarray, length: int) -> np.ndarray:
    """A 1 ms control curve stretched to ``length`` samples by linear interpolation
    (each value sits at the centre of its step, held flat before the first centre and
    after the last), float32."""
    if curve.size == 0:
        return np.zeros(length, np.float32)
    # Sample n lies between the centres of steps k and k+1 with k = floor((n - 24) / 48):
    # interpolate on a (steps, 48) grid rather than calling np.interp per sample.
    half = CONTROL_STEP // 2
    knots = np.concatenate([curve[:1], curve, curve[-1:]]).astype(np.float32)  # knot j at (j - 0.5) steps
    steps = -(-(length + half) // CONTROL_STEP)
    knots = np.pad(knots, (0, max(0, steps + 1 - knots.size)), mode="edge")
    fraction = (np.arange(CONTROL_STEP) / CONTROL_STEP).astype(np.float32)
    grid = knots[:steps, None] + (knots[1 : steps + 1] - knots[:steps])[:, None] * fraction[None, :]
    return np.ascontiguousarray(grid.reshape(-1)[half : half + length])


# ----------------------------------------------------------------------------- limiter


@dataclass(frozen=True)
class LimiterResult:
    samples: np.ndarray
    """The limited signal, float32 (channels, N)."""
    max_reduction_db: float
    """The deepest gain reduction applied (0 when the signal was already under the ceiling)."""
    true_peak_dbtp: float
    """True peak of the output, measured after limiting."""
    changed: tuple[tuple[int, int], ...] = ()
    """The [start, stop) sample ranges where the gain is not the plain ``gain_db``:
    everywhere else the output is the input times that gain."""


def limit_true_peak(
    samples: np.ndarray,
    ceiling_dbtp: float,
    *,
    gain_db: float = 0.0,
    peaks: np.ndarray | None = None,
    attack: float = 0.005,
    release: float = 0.15,
    depth_per_attack_db: float = 6.0,
) -> LimiterResult:
    """Apply ``gain_db`` and keep the true peak at or below ``ceiling_dbtp`` with a
    look-ahead limiter, never by clipping.

    The gain computer needs, per sample, the largest reduction that sample's
    neighbourhood (±1 ms: the interpolator's reach) asks for; the gain then falls at most
    ``depth_per_attack_db`` per ``attack`` seconds ahead of a peak and recovers at the
    same depth per ``release``. A part of the signal more than attack and release away
    from any over-ceiling peak is passed bit for bit (apart from ``gain_db``).

    ``peaks`` may carry `sample_true_peaks` of ``samples`` to save recomputing them when
    the limiter is run again with another gain. The result is re-measured; if the
    interpolation of gain and signal together still overshoots (by hundredths of a dB
    at most), the ceiling is lowered by the overshoot and the pass repeated.
    """
    samples = np.atleast_2d(samples)
    gain = db_to_gain(gain_db)
    if peaks is None:
        peaks = sample_true_peaks(samples)
    # Peaks 4x oversampling could under-read by enough to matter are evaluated 16x.
    refine_true_peaks(samples, peaks, db_to_gain(ceiling_dbtp - REFINE_WITHIN_DB) / gain)
    fall = depth_per_attack_db / (attack * SAMPLE_RATE)
    rise = depth_per_attack_db / (release * SAMPLE_RATE)
    target = ceiling_dbtp
    for _ in range(4):
        over = np.flatnonzero(peaks > db_to_gain(target) / gain)
        out = samples * np.float32(gain)
        if over.size == 0:
            # Nothing to limit: the true peak scales with the gain.
            peak = float(peaks.max()) * gain if peaks.size else 0.0
            return LimiterResult(out, 0.0, 20.0 * math.log10(peak) if peak > 0 else -math.inf)
        # The gain leaves 1 only within an attack ramp before and a release ramp after an
        # over-ceiling sample, so the gain computer runs on those stretches alone.
        depth = target - gain_to_db(float(peaks[over].max()) * gain)
        reach_before = CONTROL_STEP + math.ceil(-depth / fall) + 1
        reach_after = CONTROL_STEP + math.ceil(-depth / rise) + 1
        deepest, measured = 0.0, 0.0
        stretches = ranges_around(over, reach_before, reach_after, peaks.size)
        elsewhere = peaks.copy()
        for lo, hi in stretches:
            required = np.minimum(0.0, target - gain_to_db(peaks[lo:hi].astype(np.float64) * gain))
            held = -window_max(-required, CONTROL_STEP, CONTROL_STEP)
            curve = slew_limit_below(held, fall_per_step=fall, rise_per_step=rise)
            out[:, lo:hi] *= db_to_gain(curve).astype(np.float32)
            deepest = max(deepest, float(-curve.min()))
            elsewhere[lo:hi] = 0.0
        # Measure where the gain moved (in runs, to share the interpolator's context)...
        for lo, hi in merge_ranges(stretches, gap=SAMPLE_RATE // 10):
            measured = max(measured, region_true_peak(out, lo, hi))
        # ...elsewhere the output is the input times the gain, so its peaks are known.
        measured = 20.0 * math.log10(max(measured, float(elsewhere.max()) * gain, 1e-12))
        if measured <= ceiling_dbtp + 1e-3:
            return LimiterResult(out, deepest, measured, tuple(stretches))
        target -= measured - ceiling_dbtp + 0.01
    raise RuntimeError(f"limiter could not hold the true peak at {ceiling_dbtp} dBTP (measured {measured:.3f})")

