"""Final production: picture and master in one MP4, measured as delivered (decoded AAC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parallax_pipeline.engine.audio.codec import decode_audio, write_wav
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.audio.loudness import true_peak
from parallax_pipeline.engine.audio.mixing import ClipSpec, render_mix
from parallax_pipeline.engine.audio.settings import LoudnessTarget, MixSettings
from parallax_pipeline.engine.delivery import mux, produce_final
from parallax_pipeline.engine.video.codec import VideoSettings, encode_frames, probe
from tests.audio_signals import RATE, effect_like, find_clip, loudness, write_audio
from tests.video_frames import SMALL, gradient, leftovers, video_packets

DEMO_AUDIO = Path(__file__).resolve().parents[2] / "projects" / "demo" / "audio"
SECONDS = 6


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "picture.mp4"
    frames = (np.full((64, 64, 3), i % 255, np.uint8) for i in range(SECONDS * 25))
    encode_frames(frames, path, VideoSettings(64, 64, 25))
    return path


def demo_mix(tmp_path, target, headroom, effect_at=2.345):
    """The demo's narration, music and a chirp effect, mastered to ``target``."""
    effect = write_audio(tmp_path / "chirp.wav", effect_like(lufs=-30))
    settings = MixSettings(loudness=LoudnessTarget(target=target, codec_headroom=headroom))
    voices = [
        ClipSpec(DEMO_AUDIO / "voiceover" / "01-valley.wav", 0.3),
        ClipSpec(DEMO_AUDIO / "voiceover" / "02-forest.wav", 3.2),
    ]
    return render_mix(SECONDS * RATE, voices, DEMO_AUDIO / "music.mp3", [ClipSpec(effect, effect_at)], settings)


def test_delivered_file_meets_loudness_ceiling_sync_and_length(video, tmp_path):
    mix = demo_mix(tmp_path, "podcast", headroom=0.5)
    out = tmp_path / "final.mp4"
    made = produce_final(video, mix.samples, out, LoudnessTarget())
    delivered = decode_audio(out)
    assert made.attempts == 1  # the master's headroom covered what AAC added
    assert loudness(delivered) == pytest.approx(-16.0, abs=0.5)  # pyloudnorm on the decoded AAC
    assert true_peak(delivered) <= -1.0
    assert made.loudness.true_peak_dbtp <= -1.0 and made.loudness.integrated_lufs == pytest.approx(-16, abs=0.5)
    # Audio exactly as long as the picture, and in sync: the effect is where it was put.
    info = probe(out)
    assert delivered.shape[1] == made.audio_samples == made.video_samples == round(info.duration * RATE)
    assert info.duration == pytest.approx(SECONDS, abs=1e-6)
    assert abs(find_clip(delivered, effect_like(lufs=-30)) - round(2.345 * RATE)) <= RATE // 1000


def test_true_peak_raised_by_the_encode_is_mastered_again(video, tmp_path):
    # Mastered for streaming (-14 LUFS, the limiter busy) with no headroom for the codec:
    # AAC lifts the peaks over the ceiling, so the mix is mastered again with more.
    target = LoudnessTarget(target="streaming", codec_headroom=0.0)
    mix = demo_mix(tmp_path, target.target, headroom=target.codec_headroom)
    assert true_peak(mix.samples) == pytest.approx(-1.0, abs=0.01)
    made = produce_final(video, mix.samples, tmp_path / "hot.mp4", target)
    assert made.attempts >= 2
    delivered = decode_audio(tmp_path / "hot.mp4")
    assert true_peak(delivered) <= -1.0
    assert loudness(delivered) == pytest.approx(-14.0, abs=0.5)  # the retry kept the loudness


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
    assert video_packets(out) == video_packets(video)
    # Audio is there (and silent after 1.2 s when padded).
    audio = decode_audio(out)
    assert np.abs(audio[:, : SAMPLE_RATE // 2]).max() > 0.3
    if audio_seconds < 2:
        assert np.abs(audio[:, round(1.3 * SAMPLE_RATE) : round(1.9 * SAMPLE_RATE)]).max() < 0.01
    assert leftovers(tmp_path) == []
