"""Mastering: bring a mix to a target integrated loudness under a true-peak ceiling.

The mix is scaled so its BS.1770 integrated loudness meets the target, and a look-ahead
true-peak limiter keeps the ceiling. Limiting lowers loudness a little where it acts,
so the gain is corrected and the pass repeated until the loudness is within 0.05 LU.
The master is limited ``codec_headroom`` dB under the ceiling because a lossy encode
(AAC) raises true peaks, typically by up to half a dB; `production` checks the encoded
file and masters again with more headroom when that was not enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parallax_pipeline.engine.audio.dsp import fir_filter, merge_ranges
from parallax_pipeline.engine.audio.dynamics import LimiterResult, limit_true_peak
from parallax_pipeline.engine.audio.loudness import (
    SUB_BLOCK,
    LoudnessReport,
    integrated_from_energies,
    k_weighted,
    k_weighting_kernel,
    loudness_range_from_energies,
    sample_true_peaks,
    weighted_energies,
)
from parallax_pipeline.engine.audio.settings import LoudnessTarget

TOLERANCE_LU = 0.05
MAX_EXTRA_GAIN_DB = 6.0
"""Gain beyond plain normalisation the loop may add to make up for what the limiter
takes; a target that needs more is out of reach of the ceiling without crushing the
mix, and the master is left that much quieter (and the mix reports it)."""


@dataclass(frozen=True)
class MasterResult:
    samples: np.ndarray
    """The mastered mix, float32 (2, N)."""
    gain_db: float
    """Gain applied before the limiter."""
    limiter_reduction_db: float
    """Deepest gain reduction of the limiter (0: it never acted)."""
    report: LoudnessReport
    """Measured on the master."""


def master(samples: np.ndarray, target: LoudnessTarget) -> MasterResult:
    """Normalise ``samples`` to ``target.lufs`` and limit it to ``target.master_ceiling``.

    Silence stays silence (its loudness is -inf and no gain can change that).
    """
    samples = np.atleast_2d(samples)
    # K-weighting is linear: the weighted master is the weighted mix times the gain, plus
    # the weighted limiter changes, which are local. So the mix is filtered once and each
    # pass re-filters only where the limiter acted.
    weighted = k_weighted(samples)
    energies = weighted_energies(weighted)
    loudness = integrated_from_energies(energies)
    peaks = sample_true_peaks(samples)
    if not math.isfinite(loudness):
        peak = float(np.abs(samples).max()) if samples.size else 0.0
        tp = float(peaks.max()) if peaks.size else 0.0
        report = LoudnessReport(loudness, _db(tp), loudness_range_from_energies(energies), _db(peak))
        return MasterResult(samples.astype(np.float32), 0.0, 0.0, report)
    gain_db = target.lufs - loudness
    most = gain_db + MAX_EXTRA_GAIN_DB
    tried: list[tuple[float, float]] = []
    for _ in range(8):
        limited = limit_true_peak(samples, target.master_ceiling, gain_db=gain_db, peaks=peaks)
        out_energies = _energies_after(limited, samples, weighted, energies, gain_db)
        achieved = integrated_from_energies(out_energies)
        if abs(achieved - target.lufs) <= TOLERANCE_LU or (achieved < target.lufs and gain_db >= most):
            break  # on target, or as loud as the limiter allows without crushing the mix
        tried.append((gain_db, achieved))
        # Secant step: limiting eats part of each added dB, so the loudness rises less
        # than the gain; the slope of the last two tries says by how much.
        slope = 1.0
        if len(tried) >= 2 and tried[-1][0] != tried[-2][0]:
            slope = (tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0])
            slope = min(1.0, max(0.25, slope))
        gain_db = min(most, gain_db + (target.lufs - achieved) / slope)
    report = LoudnessReport(
        integrated_lufs=achieved,
        true_peak_dbtp=limited.true_peak_dbtp,
        loudness_range_lu=loudness_range_from_energies(out_energies),
        sample_peak_dbfs=_db(float(np.abs(limited.samples).max())),
    )
    return MasterResult(limited.samples, gain_db, limited.max_reduction_db, report)


def _energies_after(
    limited: LimiterResult, samples: np.ndarray, weighted: np.ndarray, energies: np.ndarray, gain_db: float
) -> np.ndarray:
    """Sub-block energies of the limiter's output, from the weighted input: scaled by the
    gain, with the sub-blocks the limiter reached re-measured."""
    gain = 10.0 ** (gain_db / 20.0)
    result = energies * gain**2
    kernel = k_weighting_kernel()
    reach = len(kernel)  # a change at n moves the weighted signal up to n + reach
    count = len(energies)
    for lo, hi in merge_ranges(limited.changed, reach):
        first, last = lo // SUB_BLOCK, min(count, -(-(hi + reach) // SUB_BLOCK))
        if first >= last:
            continue
        a, b = first * SUB_BLOCK, last * SUB_BLOCK
        change = limited.samples[:, lo:hi] - samples[:, lo:hi] * np.float32(gain)
        spread = fir_filter(np.pad(change, ((0, 0), (0, max(0, b - hi)))), kernel)[:, : b - lo]
        region = weighted[:, a:b] * np.float32(gain)
        region[:, lo - a :] += spread
        result[first:last] = weighted_energies(region)
    return result


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf
