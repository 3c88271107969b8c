"""H.264 video files with PyAV (FFmpeg in-process): encode, probe, read.

`VideoWriter` is atomic: it writes to a hidden temp file in the destination folder and
renames it over the target only when the file is complete (`files.temp_path`), so a
crash or an exception never leaves a half-written MP4 where a finished one is expected.
Joining segments and auditing a decode live in `concat`; the colour conversion x264 is
fed with in `yuv`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import AtomicFile, check_input_file
from parallax_pipeline.engine.streams import MP4_OPTIONS, open_stream

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
        self._output = AtomicFile(self.path)
        self._container = None
        self._stream = None

    def __enter__(self) -> VideoWriter:
        s = self.settings
        try:
            self._container = av.open(str(self._output.tmp), "w", container_options=MP4_OPTIONS)
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

    def write(self, frame: np.ndarray | av.VideoFrame) -> None:
        """Encode one frame of exactly the settings' size: a uint8 HxWx3 RGB or HxWx4
        RGBA array (alpha ignored; rows may be strided), or a picture `to_picture` made
        already (in another thread, say, while this one encodes)."""
        if self._stream is None:
            raise RuntimeError("VideoWriter.write() outside its `with` block")
        s = self.settings
        if isinstance(frame, np.ndarray) and frame.shape[:2] != (s.height, s.width):
            raise ValueError(f"frame shape {frame.shape} != expected {(s.height, s.width, 3)} (or 4 channels)")
        if isinstance(frame, av.VideoFrame):
            yuv = frame
        else:
            from parallax_pipeline.engine.video.yuv import to_picture  # numba: loaded when encoding

            yuv = to_picture(frame)
        if (yuv.width, yuv.height, yuv.format.name) != (s.width, s.height, "yuv420p"):
            raise ValueError(f"picture {yuv.width}x{yuv.height} {yuv.format.name} != expected {s.width}x{s.height} yuv420p")
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
            self._output.commit()
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
        self._output.discard()


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
    with open_stream(path) as (container, video):
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


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Decode a video's frames one by one as uint8 HxWx3 RGB (colour matrix from the
    file's tags). Raises MediaError for unreadable files."""
    with FrameReader(path) as reader:
        yield from reader.frames(0)



class FrameReader:
    """Frames of one video by index, read forwards: ``frames(start, stop)`` yields RGB
    frames ``start … stop − 1``, and a later call continues where the last one stopped
    without decoding again. Frames skipped to reach ``start`` are decoded but never
    converted to RGB (most of a frame's cost at 1080p). Reading backwards reopens the file.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.position = 0
        """Index of the next frame the decoder will produce."""
        self._container = None
        self._decoded = None

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._decoded = None

    def _open(self) -> None:
        self.close()
        path = check_input_file(self.path)
        try:
            self._container = av.open(str(path))
            if not self._container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"  # frame threading: several cores decode at once
            self._decoded = self._container.decode(stream)
        except av.FFmpegError as err:
            self.close()
            raise MediaError(f"{path}: cannot read video ({err})") from err
        except BaseException:
            self.close()
            raise
        self.position = 0

    def _next(self, wanted: int | None):
        """The next decoded frame, or None at the end when ``wanted`` is None (read to the end)."""
        try:
            frame = next(self._decoded, None)
        except av.FFmpegError as err:
            raise MediaError(f"{self.path}: cannot decode video ({err})") from err
        if frame is None and wanted is not None:
            raise MediaError(f"{self.path}: video has {self.position} frames, frame {wanted} was asked for")
        if frame is not None:
            self.position += 1
        return frame

    def frames(self, start: int, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield frames ``start`` up to ``stop`` (exclusive; None: to the end) as uint8 RGB."""
        if self._decoded is None or start < self.position:
            self._open()
        while self.position < start:
            self._next(start)
        while stop is None or self.position < stop:
            frame = self._next(None if stop is None else stop - 1)
            if frame is None:
                return
            yield frame.to_ndarray(format="rgb24")


def read_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video as RGB, found by seeking to the keyframe before it (cheap
    for a poster frame: no decoding from the start of a long video)."""
    last = None
    with open_stream(path, action="decode") as (container, stream):
        rate = stream.average_rate or stream.guessed_rate
        start = stream.start_time or 0
        if rate and index > 0:
            container.seek(start + int(index / (rate * stream.time_base)), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None or not rate:
                continue
            last = frame
            if round((frame.pts - start) * stream.time_base * rate) >= index:
                return frame.to_ndarray(format="rgb24")
    raise MediaError(f"{path}: has no frame {index}" + ("" if last is not None else " (no frames at all)"))
