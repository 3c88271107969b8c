"""codec: tests."""

from __future__ import annotations

import numpy as np
import pytest

from parallax_pipeline.engine.audio.codec import decode_audio, write_wav
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.errors import MediaError
from parallax_pipeline.engine.video.codec import VideoSettings, VideoWriter, encode_frames, probe, read_frames
from tests.video_frames import SMALL, gradient, leftovers, psnr


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


def test_frame_reader_reads_forwards_and_reopens_for_earlier_frames(tmp_path):
    from parallax_pipeline.engine.video.codec import FrameReader, read_frame

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
