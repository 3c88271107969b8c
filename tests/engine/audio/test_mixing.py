"""The soundtrack engine on real files: loudness-matched levels, ducking, effect timing,
mastering to a target under a true-peak ceiling, measured with pyloudnorm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from parallax_pipeline.engine.audio.loudness import measure, true_peak
from parallax_pipeline.engine.audio.mixing import ClipSpec, render_mix
from parallax_pipeline.engine.audio.settings import Ducking, LoudnessTarget, MixSettings
from parallax_pipeline.engine.errors import MediaError
from tests.audio_signals import (
    RATE,
    effect_like,
    find_clip,
    loudness,
    music_like,
    speech_like,
    window_loudness,
    write_audio,
)

# Two sentences with a 3 s pause between them, over a drone 18 dB louder than the voice (raw).
FIRST, SECOND, SPEECH = 1.0, 6.0, 2.0
LENGTH = 9 * RATE


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stems")
    return {
        "voice_a": write_audio(folder / "a.wav", speech_like(SPEECH, lufs=-30, seed=1)),
        "voice_b": write_audio(folder / "b.flac", speech_like(SPEECH, lufs=-33, seed=2)),
        "music": write_audio(folder / "music.wav", music_like(12.0, lufs=-12)),
        "effect": write_audio(folder / "fx.wav", effect_like(lufs=-40)),
    }


def voices(files, level=1.0):
    return [
        ClipSpec(files["voice_a"], FIRST, level=level, label="one"),
        ClipSpec(files["voice_b"], SECOND, level=level, label="two"),
    ]


@pytest.fixture(scope="module")
def default_mix(files):
    return render_mix(LENGTH, voices(files), files["music"], [], MixSettings(music_fade_in=0, music_fade_out=0))


def test_music_sits_14_db_under_the_voice_while_it_speaks(default_mix):
    voice, music = default_mix.buses["voice"], default_mix.buses["music"]
    for start in (FIRST, SECOND):  # the two clips differ by 3 dB raw; matching evens that out
        speaking = (start + 0.3, start + SPEECH - 0.3)
        difference = window_loudness(voice, *speaking) - window_loudness(music, *speaking)
        assert difference == pytest.approx(-20 * math.log10(0.2), abs=1.0)  # 13.98 dB


def test_music_rises_by_the_depth_in_a_pause_and_returns_after_the_release(default_mix):
    music = default_mix.buses["music"]
    ducking = Ducking()
    under_speech = window_loudness(music, FIRST + 0.3, FIRST + SPEECH - 0.3)
    end = FIRST + SPEECH
    risen = end + ducking.hold + ducking.release
    assert window_loudness(music, risen + 0.05, SECOND - ducking.attack - 0.05) - under_speech == pytest.approx(
        ducking.depth, abs=2.0
    )
    # Still down through the hold; fully up once the release is over; down again for the next words.
    assert window_loudness(music, end, end + ducking.hold - 0.05) - under_speech == pytest.approx(0.0, abs=0.5)
    assert window_loudness(music, risen, risen + 0.5) - under_speech == pytest.approx(ducking.depth, abs=0.5)
    assert window_loudness(music, SECOND, SECOND + SPEECH) - under_speech == pytest.approx(0.0, abs=0.5)


def test_ducking_depth_and_music_level_are_settable(files):
    settings = MixSettings(music_level=0.1, ducking=Ducking(depth=10.0), music_fade_in=0, music_fade_out=0)
    mix = render_mix(LENGTH, voices(files), files["music"], [], settings)
    voice, music = mix.buses["voice"], mix.buses["music"]
    speaking = (FIRST + 0.3, FIRST + SPEECH - 0.3)
    under = window_loudness(music, *speaking)
    assert window_loudness(voice, *speaking) - under == pytest.approx(20.0, abs=1.0)
    assert window_loudness(music, 4.5, 5.6) - under == pytest.approx(10.0, abs=2.0)


def test_effect_lands_on_its_sample(files):
    at = 2.345
    mix = render_mix(LENGTH, voices(files), files["music"], [ClipSpec(files["effect"], at, level=0.5)])
    effect = effect_like(lufs=-40)
    found = find_clip(mix.samples, effect)
    assert abs(found - at * RATE) <= RATE // 1000  # within 1 ms; in fact on the sample:
    assert found == round(at * RATE)
    # Its level: matched to the voice, then 6 dB under it.
    placed = mix.buses["effects"][:, found : found + effect.shape[1]]
    assert np.abs(placed).max() > 0 and not mix.buses["effects"][:, :found].any()


@pytest.mark.parametrize(
    "target,lufs", [("podcast", -16.0), ("streaming", -14.0), ("broadcast", -23.0), (-18.5, -18.5)]
)
def test_master_meets_the_loudness_target_under_the_ceiling(files, target, lufs):
    settings = MixSettings(loudness=LoudnessTarget(target=target))
    mix = render_mix(LENGTH, voices(files), files["music"], [ClipSpec(files["effect"], 4.0)], settings)
    assert loudness(mix.samples) == pytest.approx(lufs, abs=0.5)  # pyloudnorm, the independent meter
    assert mix.master.report.integrated_lufs == pytest.approx(lufs, abs=0.1)
    # The mastering loop's figures (re-measured only where the limiter acted) are exact.
    fresh = measure(mix.samples)
    assert mix.master.report.integrated_lufs == pytest.approx(fresh.integrated_lufs, abs=0.01)
    assert mix.master.report.loudness_range_lu == pytest.approx(fresh.loudness_range_lu, abs=0.01)
    assert mix.master.report.true_peak_dbtp == pytest.approx(fresh.true_peak_dbtp, abs=0.01)
    ceiling = settings.loudness.true_peak - settings.loudness.codec_headroom
    assert true_peak(mix.samples) <= ceiling + 1e-3
    assert np.abs(mix.samples).max() < 10 ** (ceiling / 20)  # limited, never clipped
    assert mix.samples.shape == (2, LENGTH) and mix.samples.dtype == np.float32


def test_music_fades_and_loops_to_the_length(files, tmp_path):
    short = write_audio(tmp_path / "loop.mp3", music_like(2.0, lufs=-12, rate=44_100), rate=44_100)
    settings = MixSettings(music_fade_in=1.0, music_fade_out=2.0)
    mix = render_mix(LENGTH, [], short, [], settings)
    music = mix.buses["music"]
    assert np.abs(music[:, :48]).max() < 1e-3  # fades in from silence
    assert np.abs(music[:, -48:]).max() < 1e-3  # and out to silence
    middle = window_loudness(music, 3.0, 6.0)  # looped: still there long after 2 s
    assert window_loudness(music, 1.2, 2.5) == pytest.approx(middle, abs=1.0)
    assert window_loudness(music, 0.0, 0.5) < middle - 6
    assert mix.master.report.integrated_lufs == pytest.approx(-16.0, abs=0.1)


def test_voice_level_per_clip_and_warnings(files):
    clips = [
        ClipSpec(files["voice_a"], FIRST, level=1.0, label="one"),
        ClipSpec(files["voice_b"], 8.0, level=0.5, label="two"),  # runs past the end
    ]
    mix = render_mix(LENGTH, clips, None, [])
    voice = mix.buses["voice"]
    assert window_loudness(voice, FIRST + 0.2, FIRST + 1.8) - window_loudness(voice, 8.1, 8.9) == pytest.approx(
        6.0, abs=1.0
    )
    assert any("b.flac" in w and "cut" in w for w in mix.warnings)
    assert [stem.label for stem in mix.stems] == ["one", "two"]
    assert mix.stems[1].match_gain_db == pytest.approx(-23 - (-33), abs=0.3)


def test_silence_in_silence_out():
    mix = render_mix(RATE, [], None, [])
    assert not mix.samples.any() and mix.master.report.integrated_lufs == -math.inf


def test_unreadable_input_names_the_file(files, tmp_path):
    corrupt = tmp_path / "music.mp3"
    corrupt.write_bytes(b"not audio " * 200)
    with pytest.raises(MediaError, match=rf"^{corrupt}: "):
        render_mix(LENGTH, voices(files), corrupt, [])
    empty = tmp_path / "boom.wav"
    empty.touch()
    with pytest.raises(MediaError, match=rf"^{empty}: empty"):
        render_mix(LENGTH, [], None, [ClipSpec(empty, 1.0)])
