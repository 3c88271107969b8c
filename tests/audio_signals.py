"""Test signals that stand in for speech, music and effects, written as real audio files
with PyAV, and the measurements the audio tests make on what comes back.

The stand-ins live in separate frequency bands (music below 300 Hz, speech 1-4 kHz,
effects 6-10 kHz), so their levels can be measured independently in a finished mix,
even after AAC, by splitting the spectrum.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyloudnorm

RATE = 48_000
MUSIC_BAND = (40.0, 300.0)
VOICE_BAND = (1_000.0, 4_000.0)
EFFECT_BAND = (6_000.0, 10_000.0)


def band_noise(seconds: float, band: tuple[float, float], seed: int, rate: int = RATE) -> np.ndarray:
    """Stereo noise with a flat spectrum inside ``band`` and nothing outside it."""
    n = round(seconds * rate)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[:, (freqs < band[0]) | (freqs > band[1])] = 0
    return np.fft.irfft(spectrum, n, axis=1)


def scale_to_lufs(signal: np.ndarray, lufs: float, rate: int = RATE) -> np.ndarray:
    return signal * 10 ** ((lufs - loudness(signal, rate)) / 20)


def loudness(signal: np.ndarray, rate: int = RATE) -> float:
    """Integrated loudness by pyloudnorm, the independent meter."""
    return float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(signal, np.float64).T))


def speech_like(seconds: float, lufs: float = -30.0, seed: int = 1, rate: int = RATE) -> np.ndarray:
    """Noise in the voice band shaped into syllables (about 4 a second), at ``lufs``.
    Between syllables it dips for a few ms only, as running speech does."""
    noise = band_noise(seconds, VOICE_BAND, seed, rate)
    t = np.arange(noise.shape[1]) / rate
    syllables = 0.3 + 0.7 * np.abs(np.sin(2 * np.pi * 2.0 * t)) ** 0.5
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms on/off ramps
    return scale_to_lufs(noise * syllables * ramp, lufs, rate)


def music_like(seconds: float, lufs: float = -12.0, seed: int = 2, rate: int = RATE) -> np.ndarray:
    """A steady low drone (a chord of sines between 50 and 250 Hz, random phases): its
    loudness is the same in every window of a few hundred ms."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    chord = sum(
        np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, (2, 1))) for freq in (55.0, 82.5, 110.0, 165.0, 247.5)
    )
    return scale_to_lufs(chord, lufs, rate)


def effect_like(seconds: float = 0.3, lufs: float = -20.0, rate: int = RATE) -> np.ndarray:
    """A rising chirp in the effects band with an instant onset and a fast decay."""
    t = np.arange(round(seconds * rate)) / rate
    sweep = np.sin(2 * np.pi * (EFFECT_BAND[0] * t + (EFFECT_BAND[1] - EFFECT_BAND[0]) / (2 * seconds) * t**2))
    chirp = sweep * np.exp(-t / (seconds / 3))
    chirp[-48:] *= np.linspace(1, 0, 48)
    stereo = np.stack([chirp, chirp])
    return stereo * 10 ** ((lufs - _short_loudness(stereo)) / 20)


def _short_loudness(signal: np.ndarray) -> float:
    from parallax_pipeline.engine.audio.loudness import clip_loudness

    return clip_loudness(signal)


def write_audio(
    path: Path, samples: np.ndarray, rate: int = RATE, codec: str | None = None, layout: str = "stereo"
) -> Path:
    """Write float (2, N) samples (or (1, N) with layout mono) as a real file; the codec
    follows the extension: wav (16-bit), flac, mp3, m4a (AAC), ogg (Vorbis), opus."""
    codec = codec or {
        ".wav": "pcm_s16le",
        ".flac": "flac",
        ".mp3": "libmp3lame",
        ".m4a": "aac",
        ".ogg": "vorbis",
        ".opus": "libopus",
    }[Path(path).suffix]
    samples = np.atleast_2d(np.asarray(samples, np.float32))
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}  # FFmpeg's own Vorbis encoder
        formats = {"pcm_s16le": "s16", "flac": "s16", "libopus": "flt", "vorbis": "fltp"}
        fmt = formats.get(codec, "fltp")
        for pos in range(0, samples.shape[1], 4096):
            block = samples[:, pos : pos + 4096]
            if fmt == "s16":
                block = (np.clip(block, -1, 1).T * 32767).astype(np.int16).reshape(1, -1)
            elif fmt == "flt":
                block = block.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=fmt, layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, pos, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)


def band(signal: np.ndarray, low: float, high: float, rate: int = RATE) -> np.ndarray:
    """The part of ``signal`` between ``low`` and ``high`` Hz (brick-wall FFT mask)."""
    n = signal.shape[1]
    spectrum = np.fft.rfft(np.asarray(signal, np.float64), axis=1)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[:, (freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, n, axis=1)


def window_loudness(signal: np.ndarray, start: float, end: float, rate: int = RATE) -> float:
    return loudness(signal[:, round(start * rate) : round(end * rate)], rate)


def find_clip(haystack: np.ndarray, needle: np.ndarray) -> int:
    """Sample offset where ``needle`` best matches ``haystack`` (cross-correlation of
    the left channels by FFT)."""
    a, b = np.asarray(haystack[0], np.float64), np.asarray(needle[0], np.float64)
    size = 1 << (len(a) + len(b)).bit_length()
    correlation = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)[: len(a)]
    return int(np.argmax(correlation))
