"""Real encodes and decodes with PyAV: VideoWriter, probe, read_frames, concat, mux."""

from __future__ import annotations

import av
import numpy as np
import pytest

from parallax_pipeline.engine.audio import SAMPLE_RATE, decode_audio, write_wav
from parallax_pipeline.engine.compose import compose
from parallax_pipeline.engine.transitions import Transition
from parallax_pipeline.engine.encode import (
    VideoSettings,
    VideoWriter,
    encode_frames,
    mux,
    probe,
    read_frames,
    to_picture,
)
from parallax_pipeline.engine.errors import MediaError

SMALL = VideoSettings(width=320, height=180, fps=24)


def gradient(i: int, w: int = 320, h: int = 180) -> np.ndarray:
    """A smooth colour gradient that moves 4 px per frame."""
    x = np.arange(w)[None, :]
    y = np.arange(h)[:, None]
    frame = np.empty((h, w, 3), np.uint8)
    frame[..., 0] = ((x + 4 * i) * 255 // (w + 200)) % 256
    frame[..., 1] = y * 255 // h
    frame[..., 2] = 255 - (x + y) * 255 // (w + h)
    return frame


def solid(rgb, n, w=320, h=180):
    return [np.full((h, w, 3), rgb, np.uint8) for _ in range(n)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_encode_generator_exact_frames_duration_and_quality(tmp_path):
    out = tmp_path / "clip.mp4"
    consumed = []

    def frames():  # a generator: frames are produced lazily, one at a time
        for i in range(48):
            consumed.append(i)
            yield gradient(i)

    progress = []
    n = encode_frames(frames(), out, SMALL, on_progress=progress.append, progress_every=20)
    assert n == 48 and consumed == list(range(48))
    assert progress == [20, 40, 48]

    info = probe(out)
    assert (info.width, info.height, info.frames) == (320, 180, 48)
    assert info.fps == pytest.approx(24.0)
    assert info.duration == pytest.approx(2.0, abs=1e-6)
    assert info.audio_duration is None

    decoded = list(read_frames(out))
    assert len(decoded) == 48
    assert min(psnr(gradient(i), f) for i, f in enumerate(decoded)) > 30
    # faststart: the index (moov) precedes the media data (mdat)
    head = out.read_bytes()
    assert head.find(b"moov") < head.find(b"mdat")
    assert leftovers(tmp_path) == []


def test_writer_streams_frames_to_the_encoder(tmp_path):
    # x264 emits packets once its lookahead is full and the muxer appends them: the
    # temp file grows during the writes, i.e. frames are not held until close.
    sizes = []
    rng = np.random.default_rng(0)
    with VideoWriter(tmp_path / "s.mp4", SMALL) as writer:
        for _ in range(120):  # noise compresses badly: many KB per frame reach the file
            writer.write(rng.integers(0, 256, (180, 320, 3), dtype=np.uint8))
            sizes += [p.stat().st_size for p in tmp_path.glob(".s.tmp-*.mp4")]
        assert writer.frames_written == 120
        assert not (tmp_path / "s.mp4").exists()  # only the temp exists until close
    assert sizes and sizes[-1] > sizes[0] > 0  # packets reached the file while writing
    assert probe(tmp_path / "s.mp4").frames == 120


def yuv_planes(picture: av.VideoFrame) -> list[np.ndarray]:
    """Y, U, V of a yuv420p picture as int arrays (H x W, H/2 x W/2, H/2 x W/2)."""
    w, h = picture.width, picture.height
    return [
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :cols].astype(int)
        for plane, rows, cols in zip(picture.planes, (h, h // 2, h // 2), (w, w // 2, w // 2))
    ]


@pytest.mark.parametrize("size", [(320, 180), (160, 90)])  # 90 rows: chroma planes of odd height
def test_to_picture_matches_ffmpeg_bt709_conversion(size):
    """The compiled conversion against swscale's BT.709 limited-range one: luma within a
    level everywhere, chroma within a level where the picture is smooth (the two
    subsample chroma with different filters, so they differ across sharp edges), for
    RGB and RGBA (strided) input alike; flat colours exact."""
    w, h = size
    rng = np.random.default_rng(1)
    patches = np.kron(rng.integers(0, 256, (h // 10, w // 10, 3)), np.ones((10, 10, 1))).astype(np.uint8)
    smooth = np.zeros((h // 2, w // 2), bool)  # chroma samples in the middle of a patch
    smooth[2::5, 2::5] = True
    checks = [(gradient(3, w, h), np.ones_like(smooth)), (patches, smooth)]
    for rgb, where in checks + [(np.full((h, w, 3), (200, 30, 90), np.uint8), np.ones_like(smooth))]:
        buffer = np.zeros((h + 6, w + 8, 4), np.uint8)  # RGBA rows strided, as the renderer hands them
        rgba = buffer[:h, :w]
        rgba[..., :3], rgba[..., 3] = rgb, 255
        reference = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
        )
        want = yuv_planes(reference)
        for frame in (rgb, rgba):
            picture = to_picture(frame)
            assert (picture.width, picture.height, picture.format.name) == (w, h, "yuv420p")
            got = yuv_planes(picture)
            assert np.abs(got[0] - want[0]).max() <= 1
            assert all(np.abs(g - c)[where].max() <= 1 for g, c in zip(got[1:], want[1:]))
    assert all(np.array_equal(g, c) for g, c in zip(got, want))  # the flat colour, exactly


@pytest.mark.parametrize("w,h", [(321, 180), (320, 181)])
def test_odd_size_raises(w, h):
    with pytest.raises(ValueError, match="even"):
        VideoSettings(width=w, height=h, fps=24)


def test_wrong_frame_shape_or_dtype_raises_and_cleans_up(tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="shape"):
        with VideoWriter(out, SMALL) as writer:
            writer.write(np.zeros((180, 322, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(out, SMALL) as writer:
            writer.write(np.zeros((180, 320, 3), np.float32))
    assert not out.exists() and leftovers(tmp_path) == []


def test_exception_inside_with_leaves_nothing(tmp_path):
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(out, SMALL) as writer:
            for i in range(30):
                writer.write(gradient(i))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_zero_frames_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        encode_frames(iter(()), tmp_path / "none.mp4", SMALL)
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_previous_file(tmp_path):
    out = tmp_path / "keep.mp4"
    encode_frames((gradient(i) for i in range(10)), out, SMALL)
    before = out.read_bytes()

    def failing():
        yield gradient(0)
        raise KeyError("scene 3")

    with pytest.raises(KeyError):
        encode_frames(failing(), out, SMALL)
    assert out.read_bytes() == before and leftovers(tmp_path) == []


def test_probe_rejects_unreadable_files(tmp_path):
    bad = tmp_path / "junk.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(MediaError, match=str(bad)):
        probe(bad)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaError, match="empty"):
        probe(empty)
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(MediaError, match=f"{bad}: cannot decode audio"):
        decode_audio(bad)
    sound = tmp_path / "sound.wav"
    write_wav(sound, np.zeros((2, SAMPLE_RATE // 10), np.float32))
    with pytest.raises(MediaError, match=f"{sound}: no video stream"):
        probe(sound)


def test_concat_hard_cuts(tmp_path):
    colours = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]
    counts = [10, 15, 20]
    clips = []
    for k, (rgb, n) in enumerate(zip(colours, counts)):
        clips.append(tmp_path / f"c{k}.mp4")
        encode_frames(solid(rgb, n), clips[-1], SMALL)
    out = tmp_path / "all.mp4"
    progress = []
    cuts = [Transition()] * (len(clips) - 1)
    assert compose(clips, cuts, out, SMALL, on_progress=progress.append).frames == 45
    assert progress == [10, 25, 45]
    info = probe(out)
    assert info.frames == 45 and info.duration == pytest.approx(45 / 24)

    frames = list(read_frames(out))
    owner = [int(np.argmax(f.reshape(-1, 3).mean(axis=0))) for f in frames]
    assert owner == [0] * 10 + [1] * 15 + [2] * 20  # joins at frames 10 and 25 exactly


def test_concat_rejects_clip_of_another_size(tmp_path):
    good, odd = tmp_path / "good.mp4", tmp_path / "odd.mp4"
    encode_frames(solid((0, 0, 0), 3), good, SMALL)
    encode_frames(solid((0, 0, 0), 3, w=160, h=90), odd, VideoSettings(160, 90, 24))
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match=r"odd\.mp4.*160x90"):
        compose([good, odd], [Transition()], out, SMALL)
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("audio_seconds", [2.5, 1.2])
def test_mux_copies_video_and_fits_audio(tmp_path, audio_seconds):
    video = tmp_path / "v.mp4"
    encode_frames((gradient(i) for i in range(48)), video, SMALL)
    t = np.arange(round(audio_seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]) * 0.5
    wav = tmp_path / "a.wav"
    write_wav(wav, tone.astype(np.float32))

    out = tmp_path / "final.mp4"
    info = mux(video, wav, out)
    assert info == probe(out)
    assert (info.frames, info.width, info.height) == (48, 320, 180)
    assert info.duration == pytest.approx(2.0, abs=1e-6)
    assert info.audio_duration == pytest.approx(2.0, abs=0.05)
    assert (info.audio_rate, info.audio_channels) == (48_000, 2)

    # The video is stream-copied: the packets are byte-identical to the source's.
    assert _video_packets(out) == _video_packets(video)
    # Audio is there (and silent after 1.2 s when padded).
    audio = decode_audio(out)
    assert np.abs(audio[:, : SAMPLE_RATE // 2]).max() > 0.3
    if audio_seconds < 2:
        assert np.abs(audio[:, round(1.3 * SAMPLE_RATE) : round(1.9 * SAMPLE_RATE)]).max() < 0.01
    assert leftovers(tmp_path) == []


def _video_packets(path):
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]




# ----------------------------------------------------------------------------- segments


def test_concat_videos_joins_segments_frame_exactly(tmp_path):
    from parallax_pipeline.engine.encode import audit_decode, concat_videos

    # Lengths 1 and 2 have no B-frames (no reordering delay), longer ones do: the joins
    # between the two kinds are where decode timestamps would go backwards if copied as is.
    lengths = [1, 37, 2, 5, 1, 20]
    segments, expected, start = [], [], 0
    for k, n in enumerate(lengths):
        frames = [gradient(start + i) for i in range(n)]
        segments.append(tmp_path / f"seg{k}.mp4")
        encode_frames(frames, segments[-1], SMALL)
        expected += list(read_frames(segments[-1]))
        start += n
    out = tmp_path / "joined.mp4"
    assert concat_videos(segments, out, SMALL.fps) == sum(lengths)

    audit = audit_decode(out)
    assert audit.clean, audit
    assert audit.frames == sum(lengths)
    assert set(np.cumsum([0] + lengths[:-1])) <= set(audit.keyframes)  # each segment opens on an IDR
    got = list(read_frames(out))
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))  # copied, not re-encoded
    assert probe(out).duration == pytest.approx(sum(lengths) / 24)
    assert leftovers(tmp_path) == []


def test_concat_videos_refuses_segments_of_other_settings(tmp_path):
    from parallax_pipeline.engine.encode import concat_videos

    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    encode_frames(solid((10, 10, 10), 3), a, SMALL)
    encode_frames(solid((10, 10, 10), 3, w=160, h=90), b, VideoSettings(160, 90, 24))
    with pytest.raises(MediaError, match=r"b\.mp4: encoded with other codec parameters.*160x90"):
        concat_videos([a, b], tmp_path / "out.mp4", 24)
    assert not (tmp_path / "out.mp4").exists()


def test_audit_decode_reports_damage(tmp_path):
    from parallax_pipeline.engine.encode import audit_decode

    video = tmp_path / "v.mp4"
    encode_frames((gradient(i) for i in range(30)), video, SMALL)
    assert audit_decode(video).clean
    data = bytearray(video.read_bytes())
    for i in range(len(data) // 3, len(data) - 2000, 401):  # scribble over the coded frames
        data[i] ^= 0x5A
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    audit = audit_decode(damaged)
    assert not audit.clean and (audit.errors or audit.corrupt_frames)


def test_frame_reader_reads_forwards_and_reopens_for_earlier_frames(tmp_path):
    from parallax_pipeline.engine.encode import FrameReader, read_frame

    video = tmp_path / "v.mp4"
    encode_frames((gradient(i) for i in range(40)), video, SMALL)
    every = list(read_frames(video))
    with FrameReader(video) as reader:
        first = list(reader.frames(3, 6))
        assert reader.position == 6
        later = list(reader.frames(30, 32))  # continues forwards, skipping 6..29
        again = list(reader.frames(0, 1))  # backwards: reopens
        tail = list(reader.frames(38))  # to the end
        with pytest.raises(MediaError, match=r"v\.mp4: video has 40 frames, frame 41 was asked for"):
            list(reader.frames(41, 45))
    for got, index in zip(first + later + again + tail, [3, 4, 5, 30, 31, 0, 38, 39]):
        assert np.array_equal(got, every[index]), index
    for index in (0, 17, 39):
        assert np.array_equal(read_frame(video, index), every[index]), index
    with pytest.raises(MediaError, match="has no frame 40"):
        read_frame(video, 40)
