from __future__ import annotations

import av
import numpy as np
import pytest

from parallax_pipeline.engine.audio.codec import audio_seconds, decode_audio, write_wav
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.errors import MediaError
from tests.audio_signals import write_audio


def write_tone(path, codec, rate, layout, seconds=1.0, freq=440.0):
    """A 0.5-amplitude sine in a real file; in 5.1 only the front left and right carry it."""
    n = round(seconds * rate)
    wave = (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)
    channels = np.tile(wave, (av.AudioLayout(layout).nb_channels, 1))
    channels[2:] = 0
    write_audio(path, channels, rate=rate, codec=codec, layout=layout)


def dominant_frequency(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * SAMPLE_RATE / len(x)


FORMATS = [
    # name, codec, source rate, layout, length tolerance (s)
    ("tone.wav", "pcm_s16le", 22050, "mono", 0),
    ("tone.flac", "flac", 44100, "stereo", 0),
    ("tone.mp3", "libmp3lame", 44100, "stereo", 0.01),
    ("tone.m4a", "aac", 44100, "stereo", 0.01),
    ("tone.ogg", "libopus", 48000, "mono", 0.01),
    ("tone.opus", "libopus", 48000, "stereo", 0.01),
    ("vorbis.ogg", "vorbis", 32000, "stereo", 0.01),
    # Raw ADTS has no container to say how much encoder priming to drop: up to ~0.1 s
    # more at 16 kHz (M4A, which records it, decodes exactly).
    ("tone.aac", "aac", 16000, "mono", 0.1),
    ("surround.flac", "flac", 96000, "5.1", 0),
]


@pytest.mark.parametrize("name,codec,rate,layout,tolerance", FORMATS, ids=[f[0] for f in FORMATS])
def test_decode_audio_any_format(tmp_path, name, codec, rate, layout, tolerance):
    path = tmp_path / name
    write_tone(path, codec, rate, layout)
    samples = decode_audio(path)
    assert samples.dtype == np.float32 and samples.shape[0] == 2
    assert abs(samples.shape[1] - SAMPLE_RATE) <= tolerance * SAMPLE_RATE
    assert dominant_frequency(samples[0]) == pytest.approx(440, abs=2)
    # mono sources land on both channels at full level
    np.testing.assert_allclose(samples[0], samples[1], atol=1e-3 if tolerance == 0 else 0.05)
    mid = samples[:, SAMPLE_RATE // 4 : 3 * SAMPLE_RATE // 4]
    if layout == "5.1":
        # FFmpeg's downmix folds centre and surrounds into the pair and normalises the sum,
        # so the fronts come out quieter; loudness matching in the mix restores the level.
        assert 0.15 < np.abs(mid).max() <= 0.5 + 1e-3
    else:
        assert np.abs(mid).max() == pytest.approx(0.5, abs=0.05)


def test_decode_audio_bad_files(tmp_path):
    corrupt = tmp_path / "voice.mp3"
    corrupt.write_bytes(b"this is not audio at all\n" * 40)
    with pytest.raises(MediaError, match=rf"^{corrupt}: "):
        decode_audio(corrupt)
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(MediaError, match=rf"^{empty}: empty"):
        decode_audio(empty)
    missing = tmp_path / "missing.flac"
    with pytest.raises(MediaError, match=rf"^{missing}: file not found"):
        decode_audio(missing)


def test_decode_audio_zero_samples(tmp_path):
    path = tmp_path / "silent.wav"
    write_wav(path, np.zeros((2, 0), np.float32))  # a valid WAV header with no data
    with pytest.raises(MediaError, match=rf"^{path}: no audio samples"):
        decode_audio(path)


def test_wav_round_trip_is_exact_and_atomic(tmp_path):
    rng = np.random.default_rng(1)
    samples = (rng.standard_normal((2, 123_457)) * 0.3).astype(np.float32)
    path = tmp_path / "mix.wav"
    write_wav(path, samples)
    np.testing.assert_array_equal(decode_audio(path), samples)
    assert [p.name for p in tmp_path.iterdir()] == ["mix.wav"]


def test_audio_seconds_is_exact_and_remembered(tmp_path, monkeypatch):
    path = tmp_path / "line.flac"
    write_tone(path, "flac", 44100, "stereo", seconds=1.5)
    assert audio_seconds(path) == pytest.approx(1.5, abs=1 / 44100)
    import parallax_pipeline.engine.audio.codec as audio_module

    monkeypatch.setattr(audio_module, "decode_audio", lambda p: pytest.fail("decoded twice"))
    assert audio_seconds(path) == pytest.approx(1.5, abs=1 / 44100)  # from memory
