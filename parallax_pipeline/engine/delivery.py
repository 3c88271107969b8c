"""Delivery: the picture and the mastered mix in one MP4, checked as delivered.

The one module that joins audio and video (`video` and `audio` never import each other).

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
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from parallax_pipeline.engine.audio.clips import fit_length
from parallax_pipeline.engine.audio.codec import decode_audio
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.audio.loudness import LoudnessReport, measure
from parallax_pipeline.engine.audio.mastering import master
from parallax_pipeline.engine.audio.settings import LoudnessTarget
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import atomic_output
from parallax_pipeline.engine.streams import MP4_OPTIONS
from parallax_pipeline.engine.video.codec import MediaInfo, probe

MAX_ATTEMPTS = 4
RETRY_MARGIN_DB = 0.25
"""Extra headroom per retry beyond the overshoot just measured: the encoder's overshoot
varies a little from one encode to the next."""
LOUDNESS_TOLERANCE_LU = 0.3
"""A delivered loudness this close to the target is left alone (AAC moves it ~0.1 LU)."""


def mux(video_path: Path, audio: Path | np.ndarray, out_path: Path, audio_bitrate: int = 192_000) -> MediaInfo:
    """Combine a video (stream-copied, no re-encode) with audio (a file, or 48 kHz
    (2, N) float samples) encoded as AAC 48 kHz stereo, trimmed or padded with silence
    to the video's exact duration. Returns ``probe(out_path)``.

    The encoder's priming delay is recorded in the MP4's edit list, so a decoder starts
    the audio at sample 0 of the video: a sound at t seconds in ``audio`` plays at t."""
    video_info = probe(video_path)
    n_total = round(video_info.duration * SAMPLE_RATE)
    source = audio if isinstance(audio, np.ndarray) else decode_audio(audio)
    if source.ndim != 2 or source.shape[0] != 2:
        raise ValueError(f"{out_path}: audio must be (2, N) samples, got shape {source.shape}")
    samples = fit_length(source, n_total)
    chunk = SAMPLE_RATE // 10
    with atomic_output(out_path) as tmp:
        with av.open(str(video_path)) as src, av.open(
            str(tmp), "w", container_options=MP4_OPTIONS
        ) as dst:
            v_in = src.streams.video[0]
            v_out = dst.add_stream_from_template(v_in)
            a_out = dst.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            a_out.bit_rate = audio_bitrate
            pos = 0

            def encode_audio_until(limit: int) -> None:
                # Feed audio alongside the video so the muxer can interleave the two
                # streams in small chunks instead of buffering a whole stream.
                nonlocal pos
                while pos < min(limit, n_total):
                    block = np.ascontiguousarray(samples[:, pos : min(pos + chunk, n_total)])
                    frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                    frame.sample_rate = SAMPLE_RATE
                    frame.pts, frame.time_base = pos, Fraction(1, SAMPLE_RATE)
                    dst.mux(a_out.encode(frame))
                    pos += block.shape[1]

            for packet in src.demux(v_in):
                if packet.size == 0:
                    continue  # flush packet: nothing to copy
                if packet.dts is not None:
                    t = float(packet.dts * packet.time_base)
                    encode_audio_until(int((t + 0.5) * SAMPLE_RATE))
                packet.stream = v_out
                dst.mux(packet)
            encode_audio_until(n_total)
            dst.mux(a_out.encode(None))
    return probe(out_path)


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
