"""Signal-processing building blocks shared by the loudness meter, the dynamics and the mixer.

Everything is numpy (no scipy at run time): recursive filters are applied as their
impulse responses through FFT convolution, and the recursions of envelope followers
(ramps limited to so many dB per step) are solved in closed form with cumulative minima.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

SAMPLE_RATE = 48_000
"""The one sample rate of every signal in the engine (decoded, mixed, measured, delivered)."""

Biquad = tuple[tuple[float, float, float], tuple[float, float, float]]
"""((b0, b1, b2), (1, a1, a2)): one second-order section of a recursive filter."""


def db_to_gain(db: np.ndarray | float) -> np.ndarray | float:
    return 10.0 ** (np.asarray(db, dtype=np.float64) / 20.0) if isinstance(db, np.ndarray) else 10.0 ** (db / 20.0)


def gain_to_db(gain: np.ndarray | float, floor: float = 1e-12) -> np.ndarray | float:
    if isinstance(gain, np.ndarray):
        return 20.0 * np.log10(np.maximum(np.abs(gain), floor))
    return 20.0 * np.log10(max(abs(gain), floor))


def biquad_impulse_response(sections: list[Biquad] | tuple[Biquad, ...], length: int) -> np.ndarray:
    """The first ``length`` samples of the impulse response of a cascade of biquads.

    Computed by running the recursion once (a few thousand steps); callers keep the
    response long enough that what is cut off is far below float32 resolution.
    """
    signal = np.zeros(length)
    signal[0] = 1.0
    for (b0, b1, b2), (_, a1, a2) in sections:
        out = np.empty(length)
        x1 = x2 = y1 = y2 = 0.0
        for n, x0 in enumerate(signal.tolist()):
            y0 = b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            out[n] = y0
            x2, x1, y2, y1 = x1, x0, y1, y0
        signal = out
    return signal


def fir_chunks(samples: np.ndarray, kernel: np.ndarray, hop: int = 57_600) -> Iterator[tuple[int, np.ndarray]]:
    """Convolve each row of ``samples`` (channels, N) with ``kernel`` (causal, as in
    ``np.convolve``), yielding ``(start, output[:, start:start + hop])`` chunks of the
    first N output samples, by FFT overlap-save.

    Chunks let callers reduce the filtered signal (square, sum) without holding a second
    full-length copy. The default hop is a multiple of 4800 (100 ms at 48 kHz) and the
    FFT sizes it leads to factor into 2, 3, 5 and 7, which pocketfft handles fast.
    """
    samples = np.atleast_2d(samples)
    channels, n = samples.shape
    taps = len(kernel)
    size = _fast_size(hop + taps - 1)
    hop = size - taps + 1
    spectrum = np.fft.rfft(kernel, size)
    history = np.zeros((channels, taps - 1), np.float64)
    for start in range(0, n, hop):
        block = samples[:, start : start + hop]
        width = block.shape[1]
        frame = np.concatenate([history, block], axis=1)
        out = np.fft.irfft(np.fft.rfft(frame, size, axis=1) * spectrum, size, axis=1)
        yield start, out[:, taps - 1 : taps - 1 + width]
        history = frame[:, -(taps - 1) :] if taps > 1 else history


def fir_filter(samples: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``np.convolve(row, kernel)[:N]`` for each row, as float32, via `fir_chunks`."""
    samples = np.atleast_2d(samples)
    out = np.empty(samples.shape, np.float32)
    for start, chunk in fir_chunks(samples, kernel):
        out[:, start : start + chunk.shape[1]] = chunk
    return out


def _fast_size(minimum: int) -> int:
    """The smallest 2^a·3^b·5^c·7^d at or above ``minimum``."""
    best = 1 << (minimum - 1).bit_length()
    for f7 in (1, 7, 49):
        for f5 in (1, 5, 25, 125):
            for f3 in (1, 3, 9, 27, 81):
                odd = f7 * f5 * f3
                if odd > best:
                    continue
                size = odd
                while size < minimum:
                    size *= 2
                best = min(best, size)
    return best


def window_max(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """``out[i] = max(values[i - before : i + after + 1])`` (clipped at the ends), in
    O(N log window) by doubling, for 1-D arrays."""
    out = _forward_max(values, after)  # out[i] = max(values[i .. i+after])
    return _forward_max(out[::-1], before)[::-1]  # then look back `before` samples


def _forward_max(values: np.ndarray, span: int) -> np.ndarray:
    """``out[i] = max(values[i : i + span + 1])``."""
    out = values.copy()
    covered = 1  # out[i] is the max of `covered` samples starting at i
    while covered < span + 1:
        step = min(covered, span + 1 - covered)
        np.maximum(out[:-step], out[step:], out=out[:-step])
        covered += step
    return out


def slew_limit_below(ceiling: np.ndarray, fall_per_step: float, rise_per_step: float) -> np.ndarray:
    """The largest curve ``y <= ceiling`` that falls by at most ``fall_per_step`` and rises
    by at most ``rise_per_step`` per element (both > 0).

    This is the gain computer of a look-ahead limiter or ducker in the dB domain: the
    curve starts falling early enough to be down by the time ``ceiling`` drops (attack)
    and climbs back at the release rate. In closed form
    ``y[n] = min_k ceiling[k] + fall·(k - n) for k >= n, + rise·(n - k) for k <= n``,
    which splits into a forward and a backward cumulative minimum.
    """
    index = np.arange(len(ceiling), dtype=np.float64)
    past = np.minimum.accumulate(ceiling - rise_per_step * index) + rise_per_step * index
    future = (np.minimum.accumulate((ceiling + fall_per_step * index)[::-1]))[::-1] - fall_per_step * index
    return np.minimum(past, future)


def raised_cosine(n: int, rising: bool = True) -> np.ndarray:
    """A fade of ``n`` samples shaped as sin² (smooth at both ends; sums to 1 with its mirror)."""
    ramp = np.sin((np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)) ** 2
    return (ramp if rising else ramp[::-1]).astype(np.float32)


def ranges_around(indices: np.ndarray, before: int, after: int, length: int) -> list[tuple[int, int]]:
    """Sorted ``indices`` widened by ``before``/``after`` (clipped to [0, length)) and
    merged into disjoint [start, stop) ranges."""
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > before + after + 1)
    firsts = np.concatenate([indices[:1], indices[breaks + 1]])
    lasts = np.concatenate([indices[breaks], indices[-1:]])
    return [(max(0, int(a) - before), min(length, int(b) + after + 1)) for a, b in zip(firsts, lasts)]


def merge_ranges(ranges, gap: int) -> list[tuple[int, int]]:
    """Sorted disjoint [start, stop) ranges, joined where less than ``gap`` apart."""
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if merged and lo - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged
