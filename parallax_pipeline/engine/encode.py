"""Video encoding, probing, decoding and muxing with PyAV (FFmpeg in-process).

Every writer here is atomic: it writes to a hidden temp file in the destination folder
and renames it over the target only when the file is complete, so a crash or an
exception never leaves a half-written MP4 where a finished one is expected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc, Colorspace

from .errors import MediaError

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

# Faststart moves the index (moov) to the front so players and browsers can start
# playback before the whole file has arrived.
_MP4_OPTIONS = {"movflags": "+faststart"}


def temp_path(path: Path) -> Path:
    """Hidden temp name next to ``path`` that keeps its extension: ``.name.tmp-<pid>.mp4``."""
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temp keeps the real extension (``.clip.tmp-<pid>.mp4``) because FFmpeg picks
    the container format from it; it lives in the same folder so ``os.replace`` is an
    atomic rename on the same filesystem. On any exception the temp is removed.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_input_file(path: Path) -> Path:
    """Raise MediaError (message starts with the path) if ``path`` is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    return path


@dataclass(frozen=True)
class VideoSettings:
    """Output video geometry and x264 quality. yuv420p needs even width and height."""

    width: int
    height: int
    fps: int
    crf: int = 20
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"video size must be positive and even (yuv420p), got {self.width}x{self.height}"
            )
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be within 0..51, got {self.crf}")
        if self.preset not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {self.preset!r}; one of {X264_PRESETS}")


class VideoWriter:
    """Stream RGB frames into an H.264/yuv420p MP4, one frame at a time.

    Use as a context manager. Frame ``i`` gets pts ``i`` in time base ``1/fps``, so the
    frame count and duration of the file are exact. Colours are converted and tagged as
    BT.709 limited range, which is what players assume for HD video.
    """

    def __init__(self, path: Path, settings: VideoSettings):
        self.path = Path(path)
        self.settings = settings
        self.frames_written = 0
        self._tmp = temp_path(self.path)
        self._container = None
        self._stream = None

    def __enter__(self) -> VideoWriter:
        s = self.settings
        try:
            self._container = av.open(str(self._tmp), "w", container_options=_MP4_OPTIONS)
            stream = self._container.add_stream("libx264", rate=s.fps)
            stream.width, stream.height, stream.pix_fmt = s.width, s.height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, s.fps)
            # Tag the stream BT.709 / limited range so players decode colours as encoded.
            ctx = stream.codec_context
            ctx.colorspace, ctx.color_range = Colorspace.ITU709, ColorRange.MPEG
            ctx.color_primaries, ctx.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
            stream.options = {"crf": str(s.crf), "preset": s.preset}
            self._stream = stream
        except BaseException:
            self._abort()
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Encode one uint8 HxWx3 RGB frame of exactly the settings' size."""
        if self._stream is None:
            raise RuntimeError("VideoWriter.write() outside its `with` block")
        s = self.settings
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be a uint8 numpy array, got {getattr(frame, 'dtype', type(frame))}")
        if frame.shape != (s.height, s.width, 3):
            raise ValueError(f"frame shape {frame.shape} != expected {(s.height, s.width, 3)}")
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        # Convert here (not inside the encoder) so the matrix is BT.709 as tagged.
        yuv = rgb.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        yuv.pts = self.frames_written
        yuv.time_base = Fraction(1, s.fps)
        self._container.mux(self._stream.encode(yuv))
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self._abort()
            return  # the original exception propagates
        if self.frames_written == 0:
            self._abort()
            raise ValueError(f"{self.path}: no frames were written")
        try:
            self._container.mux(self._stream.encode(None))  # flush delayed (B-)frames
            self._container.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self._abort()
            raise
        finally:
            self._container = self._stream = None

    def _abort(self) -> None:
        """Close what is open and delete the temp file."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass  # the file is being discarded anyway
        self._container = self._stream = None
        self._tmp.unlink(missing_ok=True)


def encode_frames(
    frames: Iterable[np.ndarray],
    path: Path,
    settings: VideoSettings,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 30,
) -> int:
    """Encode an iterable (typically a generator) of RGB frames to ``path``; return the count.

    ``on_progress(n)`` is called every ``progress_every`` frames and once at the end.
    """
    with VideoWriter(path, settings) as writer:
        for frame in frames:
            writer.write(frame)
            if on_progress and writer.frames_written % progress_every == 0:
                on_progress(writer.frames_written)
    if on_progress and writer.frames_written % progress_every:
        on_progress(writer.frames_written)
    return writer.frames_written


@dataclass(frozen=True)
class MediaInfo:
    """What a finished video file holds. Durations in seconds."""

    width: int
    height: int
    fps: float
    frames: int
    duration: float
    audio_duration: float | None
    audio_rate: int | None
    audio_channels: int | None


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def probe(path: Path) -> MediaInfo:
    """Inspect a video file. Frames are counted by demuxing every video packet (exact,
    unlike header estimates); durations come from the streams, falling back to summed
    packet durations."""
    path = check_input_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            frames, video_ticks, audio_ticks = 0, 0, 0
            for packet in container.demux(*[s for s in (video, audio) if s is not None]):
                if packet.size == 0:
                    continue  # demuxer's end-of-stream flush packet
                if packet.stream is video:
                    frames += 1
                    video_ticks += packet.duration or 0
                else:
                    audio_ticks += packet.duration or 0
            fps = _stream_fps(video)
            if video.duration:
                duration = float(video.duration * video.time_base)
            elif video_ticks:
                duration = float(video_ticks * video.time_base)
            else:
                duration = frames / fps if fps else 0.0
            a_dur = a_rate = a_ch = None
            if audio is not None:
                ticks = audio.duration or audio_ticks
                a_dur = float(ticks * audio.time_base)
                a_rate = audio.codec_context.sample_rate
                a_ch = audio.codec_context.layout.nb_channels
            return MediaInfo(
                width=video.codec_context.width,
                height=video.codec_context.height,
                fps=fps,
                frames=frames,
                duration=duration,
                audio_duration=a_dur,
                audio_rate=a_rate,
                audio_channels=a_ch,
            )
    except av.FFmpegError as err:
        raise MediaError(f"{path}: cannot read video ({err})") from err


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Decode a video's frames one by one as uint8 HxWx3 RGB (colour matrix from the
    file's tags). Raises MediaError for unreadable files."""
    path = check_input_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame threading: several cores decode at once
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as err:
        raise MediaError(f"{path}: cannot decode video ({err})") from err


def mux(video_path: Path, audio_wav: Path, out_path: Path, audio_bitrate: int = 192_000) -> MediaInfo:
    """Combine a video (stream-copied, no re-encode) with a WAV (encoded AAC 48 kHz
    stereo), the audio trimmed or padded with silence to the video's exact duration.
    Returns ``probe(out_path)``."""
    from .audio import SAMPLE_RATE, decode_audio, fit_length  # audio imports this module

    video_info = probe(video_path)
    n_total = round(video_info.duration * SAMPLE_RATE)
    samples = fit_length(decode_audio(audio_wav), n_total)
    chunk = SAMPLE_RATE // 10
    with atomic_output(out_path) as tmp:
        with av.open(str(video_path)) as src, av.open(
            str(tmp), "w", container_options=_MP4_OPTIONS
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
