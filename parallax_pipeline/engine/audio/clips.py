"""Audio clip operations on (2, N) float32 samples: exact lengths, loops, fades, placement."""

from __future__ import annotations

import numpy as np

from parallax_pipeline.engine.audio.dsp import raised_cosine


def fit_length(samples: np.ndarray, n: int, loop: bool = False, crossfade: int = 2400) -> np.ndarray:
    """Return ``samples`` as exactly ``n`` samples: trimmed, padded with silence, or
    (``loop=True``) repeated with an equal-power crossfade of ``crossfade`` samples at
    each loop point so the seam has no click."""
    if n < 0:
        raise ValueError(f"length must be >= 0, got {n}")
    channels, length = samples.shape
    if length >= n:
        return samples[:, :n].astype(np.float32, copy=True)
    if not loop or length == 0:
        out = np.zeros((channels, n), np.float32)
        out[:, :length] = samples
        return out
    xf = max(0, min(crossfade, length // 2))
    period = length - xf
    # After the first pass the signal is periodic: each period starts with the
    # crossfade of the clip's tail into its head, then the rest of the clip.
    unit = samples[:, :period].astype(np.float32, copy=True)
    if xf:
        t = (np.arange(xf, dtype=np.float64) + 0.5) / xf * (np.pi / 2)
        unit[:, :xf] = samples[:, period:] * np.cos(t) + samples[:, :xf] * np.sin(t)
    repeats = -(-(n - period) // period)
    out = np.concatenate([samples[:, :period], np.tile(unit, (1, repeats))], axis=1)
    return np.ascontiguousarray(out[:, :n], dtype=np.float32)


def place(track: np.ndarray, clip: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add ``clip * gain`` into ``track`` beginning at sample ``start``, in place; any
    part falling before 0 or past the end of the track is dropped."""
    if track.shape[0] != clip.shape[0]:
        raise ValueError(f"channel mismatch: track {track.shape[0]}, clip {clip.shape[0]}")
    lo, hi = max(start, 0), min(start + clip.shape[1], track.shape[1])
    if hi > lo:
        track[:, lo:hi] += gain * clip[:, lo - start : hi - start]


def apply_fades(clip: np.ndarray, fade_in: int = 0, fade_out: int = 0) -> np.ndarray:
    """A copy of ``clip`` faded in over its first ``fade_in`` samples and out over its
    last ``fade_out`` (sin² ramps: no corner where a fade starts or ends)."""
    out = np.array(clip, dtype=np.float32, copy=True)
    length = out.shape[1]
    fade_in, fade_out = min(max(fade_in, 0), length), min(max(fade_out, 0), length)
    if fade_in:
        out[:, :fade_in] *= raised_cosine(fade_in, rising=True)
    if fade_out:
        out[:, length - fade_out :] *= raised_cosine(fade_out, rising=False)
    return out
