"""Video encoding, probing, decoding and muxing with PyAV (FFmpeg in-process).

Every writer here is atomic: it writes to a hidden temp file in the destination folder
and renames it over the target only when the file is complete, so a crash or an
exception never leaves a half-written MP4 where a finished one is expected.
"""

from __future__ import annotations

import hashlib
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


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, the content key of stored artifacts and cached segments."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_input_file(path: Path) -> Path:
    """Raise MediaError (message starts with the path) if ``path`` is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    return path


@contextmanager
def open_stream(path: Path, kind: str = "video", action: str = "read") -> Iterator[tuple]:
    """The open container of a media file and its first ``kind`` ("video" or "audio")
    stream, the file checked first (`check_input_file`). FFmpeg's errors inside the block
    become MediaError "<path>: cannot <action> <kind> (<reason>)"."""
    path = check_input_file(path)
    try:
        with av.open(str(path)) as container:
            streams = getattr(container.streams, kind)
            if not streams:
                raise MediaError(f"{path}: no {kind} stream")
            yield container, streams[0]
    except av.FFmpegError as err:
        raise MediaError(f"{path}: cannot {action} {kind} ({err})") from err


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


def to_picture(frame: np.ndarray) -> av.VideoFrame:
    """A uint8 HxWx3 RGB or HxWx4 RGBA frame (alpha ignored; rows may be strided) as
    the picture `VideoWriter` encodes: yuv420p, BT.709 limited range (the matrix the
    stream is tagged with), chroma the mean of each 2x2 square. Converted by compiled
    code that releases the GIL (`kernels.words_to_yuv420`: a third of swscale's time)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError(f"frame must be a uint8 numpy array, got {getattr(frame, 'dtype', type(frame))}")
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ValueError(f"frame must be HxWx3 RGB or HxWx4 RGBA of even size, got {frame.shape}")
    from parallax_pipeline.engine import kernels  # numba: imported when encoding

    h, w, channels = frame.shape
    picture = av.VideoFrame(w, h, "yuv420p")
    y, u, v = (
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :cols]  # written in place
        for plane, rows, cols in zip(picture.planes, (h, h // 2, h // 2), (w, w // 2, w // 2))
    )
    if channels == 4 and frame.strides[1:] == (4, 1) and frame.strides[0] % 4 == 0:
        kernels.words_to_yuv420(frame.view(np.uint32)[..., 0], y, u, v)
    else:
        kernels.rgb_to_yuv420(frame, y, u, v)
    picture.colorspace, picture.color_range = Colorspace.ITU709, ColorRange.MPEG
    return picture


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

    def write(self, frame: np.ndarray | av.VideoFrame) -> None:
        """Encode one frame of exactly the settings' size: a uint8 HxWx3 RGB or HxWx4
        RGBA array (alpha ignored; rows may be strided), or a picture `to_picture` made
        already (in another thread, say, while this one encodes)."""
        if self._stream is None:
            raise RuntimeError("VideoWriter.write() outside its `with` block")
        s = self.settings
        if isinstance(frame, np.ndarray) and frame.shape[:2] != (s.height, s.width):
            raise ValueError(f"frame shape {frame.shape} != expected {(s.height, s.width, 3)} (or 4 channels)")
        yuv = frame if isinstance(frame, av.VideoFrame) else to_picture(frame)
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


def mux(video_path: Path, audio: Path | np.ndarray, out_path: Path, audio_bitrate: int = 192_000) -> MediaInfo:
    """Combine a video (stream-copied, no re-encode) with audio (a file, or 48 kHz
    (2, N) float samples) encoded as AAC 48 kHz stereo, trimmed or padded with silence
    to the video's exact duration. Returns ``probe(out_path)``.

    The encoder's priming delay is recorded in the MP4's edit list, so a decoder starts
    the audio at sample 0 of the video: a sound at t seconds in ``audio`` plays at t."""
    from .audio import SAMPLE_RATE, decode_audio, fit_length  # audio imports this module

    video_info = probe(video_path)
    n_total = round(video_info.duration * SAMPLE_RATE)
    source = audio if isinstance(audio, np.ndarray) else decode_audio(audio)
    if source.ndim != 2 or source.shape[0] != 2:
        raise ValueError(f"{out_path}: audio must be (2, N) samples, got shape {source.shape}")
    samples = fit_length(source, n_total)
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


# ----------------------------------------------------------------------------- segments


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


def _segment_packets(path: Path, fps: int) -> tuple[object, list[int]]:
    """(video stream description, frame index of each packet in decode order) of a segment,
    checking it is a closed run of frames 0 … n−1 that starts on a keyframe."""
    frame_time = Fraction(1, fps)
    with open_stream(path) as (container, stream):
        ctx = stream.codec_context
        description = (ctx.name, ctx.width, ctx.height, bytes(ctx.extradata or b""))
        time_base = stream.time_base  # read while the file is open
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]
    if not packets:
        raise MediaError(f"{path}: segment has no frames")
    if not packets[0][1]:
        raise MediaError(f"{path}: segment does not start with a keyframe; it cannot be joined cleanly")
    first = min(pts for pts, _ in packets)
    indices = [round((pts - first) * time_base / frame_time) for pts, _ in packets]
    if sorted(indices) != list(range(len(indices))):
        raise MediaError(f"{path}: frames are not one frame apart at {fps} fps; cannot join it frame-exactly")
    return description, indices


def concat_videos(segments: Iterable[Path], out_path: Path, fps: int) -> int:
    """Join H.264 segments end to end by stream copy (no re-encode); return the frames.

    Every segment must start with a keyframe (IDR) and carry the same codec parameters
    (the same encoder settings give byte-identical SPS/PPS), so the joins decode cleanly.
    Frame ``i`` of the result gets pts ``i`` (time base ``1/fps``): timestamps continue
    across joins with no gap or repeat. Decode timestamps are renumbered with one delay
    for the whole file, the largest reordering any segment uses, so they rise strictly
    even where a segment without B-frames meets one with them.
    """
    segments = [Path(s) for s in segments]
    if not segments:
        raise ValueError("concat_videos needs at least one segment")
    # First pass: check every segment and find the reordering delay (packets only, cheap).
    layouts, description = [], None
    for segment in segments:
        described, indices = _segment_packets(segment, fps)
        if description is None:
            description = described
        elif described != description:
            raise MediaError(
                f"{segment}: encoded with other codec parameters than {segments[0]} "
                f"({described[0]} {described[1]}x{described[2]} vs {description[0]} {description[1]}x{description[2]}, "
                "or different SPS/PPS); segments must share encoder settings"
            )
        layouts.append(indices)
    delay = max(max(j - index for j, index in enumerate(indices)) for indices in layouts)
    frame_time = Fraction(1, fps)
    with atomic_output(Path(out_path)) as tmp:
        with av.open(str(tmp), "w", container_options=_MP4_OPTIONS) as dst:
            out = None
            offset = decoded = 0
            for segment, indices in zip(segments, layouts):
                with av.open(str(segment)) as src:
                    stream = src.streams.video[0]
                    if out is None:
                        out = dst.add_stream_from_template(stream)
                        out.time_base = frame_time
                    packets = (p for p in src.demux(stream) if p.size)
                    for packet, index in zip(packets, indices):
                        packet.pts = offset + index
                        packet.dts = decoded - delay
                        packet.duration = 1
                        packet.time_base = frame_time
                        packet.stream = out
                        dst.mux(packet)
                        decoded += 1
                offset += len(indices)
    return offset


@dataclass(frozen=True)
class DecodeAudit:
    """What decoding a whole video found: the evidence that a join is clean."""

    frames: int
    """Frames the decoder produced."""
    errors: tuple[str, ...]
    """Error messages FFmpeg's decoder logged (empty for a clean stream)."""
    corrupt_frames: int
    """Frames the decoder flagged as corrupt."""
    timestamps_continuous: bool
    """Frame ``i`` is shown at ``i / fps``: none dropped, repeated or out of place."""
    decode_order_valid: bool
    """Decode timestamps rise strictly and never pass their frame's presentation time."""
    keyframes: tuple[int, ...]
    """Indices (presentation order) of the keyframes."""

    @property
    def clean(self) -> bool:
        return not self.errors and not self.corrupt_frames and self.timestamps_continuous and self.decode_order_valid


def audit_decode(path: Path) -> DecodeAudit:
    """Decode every frame of a video and report errors, corrupt frames and timestamp order."""
    path = check_input_file(path)
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # capture the decoder's own complaints
    try:
        with av.logging.Capture(local=False) as logs, av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            tick = stream.time_base * rate  # frames per time-base unit
            start = stream.start_time or 0
            shown, corrupt, keyframes, decode_order_valid, last_dts = [], 0, [], True, None
            for packet in container.demux(stream):
                if packet.size:
                    if packet.is_keyframe:
                        keyframes.append(round((packet.pts - start) * tick))
                    if packet.dts is not None:
                        if (last_dts is not None and packet.dts <= last_dts) or packet.dts > packet.pts:
                            decode_order_valid = False
                        last_dts = packet.dts
                for frame in packet.decode():  # the final empty packet flushes the decoder
                    shown.append(round((frame.pts - start) * tick))
                    corrupt += bool(frame.is_corrupt)
    except av.FFmpegError as err:
        raise MediaError(f"{path}: cannot decode video ({err})") from err
    finally:
        av.logging.set_level(level)
    return DecodeAudit(
        frames=len(shown),
        errors=tuple(message.strip() for lvl, _, message in logs if lvl <= av.logging.ERROR),
        corrupt_frames=corrupt,
        timestamps_continuous=shown == list(range(len(shown))),
        decode_order_valid=decode_order_valid,
        keyframes=tuple(sorted(keyframes)),
    )
