"""Final production: the picture and the mastered mix in one MP4, checked as delivered.

The AAC encode moves true peaks (usually by under half a dB, but by several dB on
loud high-frequency transients) and loudness (by about a tenth of a LU), so the
figures that count are measured on the audio decoded back from the finished file.
When its true peak is over the ceiling, or its loudness off the target, the mix is
mastered again with the encoder's measured overshoot added to the headroom and its
measured loudness shift added to the target, and the file muxed again; the picture is
stream-copied each time, so a retry costs one audio encode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, decode_audio
from .encode import MediaInfo, mux
from .errors import MediaError
from .loudness import LoudnessReport, measure
from .mastering import LoudnessTarget, master

MAX_ATTEMPTS = 4
RETRY_MARGIN_DB = 0.25
"""Extra headroom per retry beyond the overshoot just measured: the encoder's overshoot
varies a little from one encode to the next."""
LOUDNESS_TOLERANCE_LU = 0.3
"""A delivered loudness this close to the target is left alone (AAC moves it ~0.1 LU)."""


@dataclass(frozen=True)
class Production:
    info: MediaInfo
    loudness: LoudnessReport
    """Measured on the audio decoded from the finished MP4."""
    audio_samples: int
    """Samples decoded from the MP4's audio track."""
    video_samples: int
    """The video's duration in 48 kHz samples: the audio track's exact target length."""
    attempts: int
    """Encodes needed (1 when the master's headroom covered what the encoder added)."""


def produce_final(
    video: Path, mix: Path | np.ndarray, out: Path, target: LoudnessTarget, audio_bitrate: int = 192_000
) -> Production:
    """Mux ``video`` with the mastered ``mix`` (a WAV or (2, N) samples) into ``out``, so
    that the decoded soundtrack's true peak is at or below ``target.true_peak`` and its
    loudness within `LOUDNESS_TOLERANCE_LU` of ``target.lufs`` where the ceiling allows."""
    mastered = mix if isinstance(mix, np.ndarray) else decode_audio(mix)
    samples, aim = mastered, target
    for attempt in range(1, MAX_ATTEMPTS + 1):
        info = mux(video, samples, out, audio_bitrate=audio_bitrate)
        delivered = decode_audio(out)
        report = measure(delivered)
        overshoot = report.true_peak_dbtp - target.true_peak
        drift = target.lufs - report.integrated_lufs
        if overshoot <= 0 and (abs(drift) <= LOUDNESS_TOLERANCE_LU or not np.isfinite(drift)):
            return Production(
                info=info,
                loudness=report,
                audio_samples=delivered.shape[1],
                video_samples=round(info.duration * SAMPLE_RATE),
                attempts=attempt,
            )
        # Master again: what the encoder added to the peaks becomes headroom, and its
        # loudness shift is pre-compensated in the target.
        aim = aim.model_copy(
            update={
                "target": aim.lufs + (drift if np.isfinite(drift) else 0.0),
                "codec_headroom": aim.codec_headroom + max(0.0, overshoot + RETRY_MARGIN_DB),
            }
        )
        samples = master(mastered, aim).samples
    if overshoot > 0:
        raise MediaError(
            f"{out}: the encoded soundtrack's true peak stays {overshoot:.2f} dB over the {target.true_peak} dBTP "
            f"ceiling after {MAX_ATTEMPTS} encodes"
        )
    return Production(info, report, delivered.shape[1], round(info.duration * SAMPLE_RATE), MAX_ATTEMPTS)
