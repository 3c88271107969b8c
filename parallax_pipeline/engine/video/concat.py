"""Joining H.264 segments by stream copy, and the decode audit that proves a join clean."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.files import atomic_output, check_input_file
from parallax_pipeline.engine.streams import MP4_OPTIONS, open_stream


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
        with av.open(str(tmp), "w", container_options=MP4_OPTIONS) as dst:
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
