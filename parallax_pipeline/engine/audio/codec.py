"""Audio files: decode any input to 48 kHz stereo float, measure lengths, write WAV.

Samples are float32 arrays of shape (2, N) (channels first, like FFmpeg's planar
"fltp"), nominally within [-1, 1], always at ``SAMPLE_RATE``. Clip operations (length,
fades, placement) are in `clips`; mixing, loudness and dynamics build on these in
`mixing`, `loudness`, `dynamics` and `mastering`.

pydub is not used: it mixes in 16-bit integers at whole-millisecond positions and needs
an ffmpeg binary for MP3; PyAV's in-process FFmpeg and float32 numpy do all of it.

Intermediate WAVs are written as 32-bit float PCM: the mix round-trips bit-exactly,
no dither or clipping decisions are needed before the final AAC encode, and FFmpeg
and every DAW read it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import atomic_output, check_input_file
from parallax_pipeline.engine.streams import open_stream


def decode_audio(path: Path) -> np.ndarray:
    """Decode an audio file (WAV, MP3, M4A/AAC, OGG/Opus, FLAC, ...) to float32 (2, N)
    at 48 kHz. A mono file is copied to both channels at full level (FFmpeg's own
    mono->stereo upmix would lower it by 3 dB)."""
    with open_stream(path, "audio", "decode") as (container, stream):
        mono = stream.codec_context.layout.nb_channels == 1
        resampler = av.AudioResampler(
            format="fltp", layout="mono" if mono else "stereo", rate=SAMPLE_RATE
        )
        chunks: list[np.ndarray] = []
        padding = 0.0  # seconds decoded beyond what the container says packets hold
        for frame in container.decode(stream):
            padding += _padding_seconds(frame)
            chunks += [f.to_ndarray() for f in resampler.resample(frame)]
        # The resampler holds back a few samples for its filter; flush them out.
        chunks += [f.to_ndarray() for f in resampler.resample(None)]
    # Concatenate rather than place by frame timestamps: a stream whose first pts is
    # not 0 (encoder priming, edit lists) must not gain leading silence.
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)
    if padding > 0:
        samples = samples[:, : max(0, samples.shape[1] - round(padding * SAMPLE_RATE))]
    if samples.shape[1] == 0:
        raise MediaError(f"{path}: no audio samples decoded")
    if mono:
        samples = np.repeat(samples, 2, axis=0)
    return np.ascontiguousarray(samples, dtype=np.float32)


def _padding_seconds(frame: av.AudioFrame) -> float:
    """Seconds of encoder padding in a decoded frame. AAC in MP4 pads its last frame to
    1024 samples and the container marks the packet as shorter, but FFmpeg's decoder
    still outputs the whole frame; without this a 1 s M4A decodes ~2% long."""
    if not frame.duration or frame.time_base is None or not frame.sample_rate:
        return 0.0
    declared = float(frame.duration * frame.time_base)
    return max(0.0, frame.samples / frame.sample_rate - declared)


_durations: dict[tuple[str, int, int], float] = {}


def audio_seconds(path: Path) -> float:
    """Length of an audio file in seconds, from its decoded samples (exact for every
    format, unlike header durations), remembered per (path, size, mtime) so that
    re-validating a project on every sensor tick decodes each file once."""
    path = check_input_file(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _durations:
        _durations[key] = decode_audio(path).shape[1] / SAMPLE_RATE
    return _durations[key]


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Write (2, N) samples as a 48 kHz stereo 32-bit float WAV, atomically."""
    if samples.ndim != 2 or samples.shape[0] != 2:
        raise ValueError(f"expected samples of shape (2, N), got {samples.shape}")
    block = SAMPLE_RATE  # one second per frame keeps memory flat for long mixes
    with atomic_output(Path(path)) as tmp, av.open(str(tmp), "w", format="wav") as out:
        stream = out.add_stream("pcm_f32le", rate=SAMPLE_RATE, layout="stereo")
        out.start_encoding()  # write the header now, so even an empty mix is a valid WAV
        for pos in range(0, samples.shape[1], block):
            chunk = np.ascontiguousarray(samples[:, pos : pos + block], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            frame.pts, frame.time_base = pos, Fraction(1, SAMPLE_RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
