"""The soundtrack through the real pipeline: project.yaml audio settings, scenes timed to
their narration, and the finished MP4 measured as delivered (decoded AAC) with an
independent loudness meter; broken audio fails only its own project's audio."""

from __future__ import annotations

import dagster as dg
import pytest

from parallax_pipeline.assets.project import mix_inputs
from parallax_pipeline.engine.audio.codec import decode_audio
from parallax_pipeline.engine.audio.loudness import true_peak
from parallax_pipeline.engine.video.codec import probe
from parallax_pipeline.runner import settle
from parallax_pipeline.spec import ProjectError, load_project
from tests.audio_signals import (
    EFFECT_BAND,
    MUSIC_BAND,
    RATE,
    VOICE_BAND,
    band,
    effect_like,
    find_clip,
    loudness,
    music_like,
    speech_like,
    window_loudness,
    write_audio,
)
from tests.conftest import write_small_project

NARRATED = """\
scenes:
  - {id: one, image: images/one.jpg, duration: auto, voiceover_offset: 0.2}
  - {id: two, image: images/two.jpg, duration: auto}
audio:
  auto_pad: 1.6
  music_fade_in: 0.2
  music_fade_out: 0.5
  ducking: {attack: 0.1, hold: 0.3, release: 0.4}
  effects:
    - {file: audio/sfx/chirp.wav, at: 2.345, gain: 4.0}
"""
SPEECH, OFFSET, PAD = 1.0, 0.2, 1.6
ATTACK, HOLD, RELEASE = 0.1, 0.3, 0.4


def narrated_project(folder):
    """Two short scenes timed by their narration (M4A and Opus), a drone as MP3 music
    18 dB louder than the speech, and a chirp effect at 2.345 s in the pause, +12 dB over the voice: AAC lifts the
    true peak of so loud a high-frequency transient by about 3 dB."""
    write_small_project(folder, ["one", "two"], NARRATED)
    (folder / "audio" / "voiceover").mkdir()
    (folder / "audio" / "sfx").mkdir()
    one = speech_like(SPEECH, lufs=-30, seed=1, rate=44_100)
    write_audio(folder / "audio" / "voiceover" / "one.m4a", one, rate=44_100)
    write_audio(folder / "audio" / "voiceover" / "two.opus", speech_like(SPEECH, lufs=-28, seed=2))
    write_audio(folder / "audio" / "music.mp3", music_like(4.0, lufs=-12, rate=44_100), rate=44_100)
    write_audio(folder / "audio" / "sfx" / "chirp.wav", effect_like(lufs=-20))
    return folder


def test_final_mp4_is_mixed_mastered_and_in_sync(studio):
    folder = narrated_project(studio.projects / "narrated")
    spec = load_project(folder)
    # "auto": offset + narration + pad (M4A decodes to its exact length).
    assert [scene.duration for scene in spec.scenes] == pytest.approx([OFFSET + SPEECH + PAD, SPEECH + PAD], abs=0.01)
    defs = studio.defs()
    report = settle(defs, studio.instance)
    assert report.succeeded, report.failures

    final = studio.renders / "narrated.mp4"
    info = probe(final)
    delivered = decode_audio(final)
    assert info.frames == spec.total_frames
    assert delivered.shape[1] == round(info.duration * RATE)  # audio exactly as long as the picture

    # Loudness and true peak of the file as delivered (pyloudnorm; our 4x/16x true-peak meter).
    assert loudness(delivered) == pytest.approx(-16.0, abs=0.5)
    assert true_peak(delivered) <= -1.0

    # The chirp is where project.yaml put it, within 1 ms, after AAC.
    effects = band(delivered, *EFFECT_BAND)
    assert abs(find_clip(effects, band(effect_like(), *EFFECT_BAND)) - 2.345 * RATE) <= RATE / 1000

    # Ducking, measured in the delivered file by splitting voice and music by frequency.
    voice, music = band(delivered, *VOICE_BAND), band(delivered, *MUSIC_BAND)
    first = (OFFSET + 0.2, OFFSET + SPEECH - 0.2)
    second_start = spec.timeline()[1].start / spec.output.fps
    assert window_loudness(voice, *first) - window_loudness(music, *first) == pytest.approx(14.0, abs=1.0)
    pause = (OFFSET + SPEECH + HOLD + RELEASE + 0.02, second_start - ATTACK - 0.02)  # risen, not yet ducking
    assert pause[1] - pause[0] > 0.6
    assert window_loudness(music, *pause) - window_loudness(music, *first) == pytest.approx(6.0, abs=2.0)
    second = (second_start + 0.2, second_start + SPEECH - 0.2)
    assert window_loudness(voice, *second) - window_loudness(music, *second) == pytest.approx(14.0, abs=1.0)

    # What the UI shows: loudness figures and a picture of the mix; the final file's own figures.
    store = defs.resources["artifacts"].open()
    mixed = store.load("mixed_audio", "narrated").info
    assert mixed["integrated_lufs"] == pytest.approx(-16.0, abs=0.1)
    assert mixed["true_peak_dbtp"] <= -1.5 and 0 < mixed["loudness_range_lu"] < 20
    assert mixed["loudness_over_time"].startswith("![loudness over time")
    assert "voiceover one (one.m4a" in mixed["stems"] and "music (music.mp3" in mixed["stems"]
    delivered_info = store.load("final_video", "narrated").info
    assert delivered_info["delivered_integrated_lufs"] == pytest.approx(-16.0, abs=0.5)
    assert delivered_info["delivered_true_peak_dbtp"] <= -1.0
    assert delivered_info["audio_samples"] == delivered_info["audio_samples_expected"]
    assert delivered_info["audio_encodes"] >= 2  # the chirp's encoded peaks needed more headroom
    event = studio.instance.get_latest_materialization_event(dg.AssetKey("mixed_audio"))
    metadata = event.asset_materialization.metadata
    assert isinstance(metadata["loudness_over_time"], dg.MarkdownMetadataValue)
    assert isinstance(metadata["waveform"], dg.MarkdownMetadataValue)
    assert {"integrated_lufs", "true_peak_dbtp", "loudness_range_lu"} <= set(metadata)


def test_bad_audio_fails_only_its_projects_audio(studio):
    write_small_project(studio.projects / "good", ["one"])
    bad_music = write_small_project(studio.projects / "badmusic", ["one"])
    (bad_music / "audio" / "music.mp3").write_bytes(b"this is not an mp3 at all\n" * 50)
    empty_fx = write_small_project(
        studio.projects / "emptyfx", ["one"], "audio:\n  effects:\n    - {file: audio/boom.wav, at: 0.5}\n"
    )
    (empty_fx / "audio" / "boom.wav").touch()

    defs = studio.defs()
    report = settle(defs, studio.instance)
    failures = "\n".join(report.failures)
    assert f"{bad_music / 'audio' / 'music.mp3'}: cannot decode audio" in failures
    assert f"{empty_fx / 'audio' / 'boom.wav'}: empty file" in failures
    assert all("mixed_audio" in failure for failure in report.failures), failures
    assert (studio.renders / "good.mp4").is_file()
    assert not (studio.renders / "badmusic.mp4").exists() and not (studio.renders / "emptyfx.mp4").exists()
    store = defs.resources["artifacts"].open()
    for name in ("badmusic", "emptyfx"):  # the picture is made; only the audio failed
        assert store.load("composed_video", name) is not None


def test_voiceovers_follow_the_picture_timeline(tmp_path):
    folder = narrated_project(tmp_path / "timed")
    text = (folder / "project.yaml").read_text()
    text = text.replace(
        "duration: auto, voiceover_offset: 0.2}",
        "duration: auto, voiceover_offset: 0.2, transition: {type: dissolve, duration: 0.5}}",
    )
    (folder / "project.yaml").write_text(text)
    spec = load_project(folder)
    # The outgoing dissolve is added to an auto scene, so the next narration still starts
    # `auto_pad` after this one ends; the last scene has no outgoing transition.
    one, two = spec.scenes
    assert one.duration == pytest.approx(OFFSET + SPEECH + PAD + 0.5, abs=0.01)
    assert two.duration == pytest.approx(SPEECH + PAD, abs=0.01)
    length, voiceovers, music, effects = mix_inputs(spec)
    frame = 1 / spec.output.fps
    starts = [entry.start / spec.output.fps for entry in spec.timeline()]
    assert [clip.start for clip in voiceovers] == pytest.approx([starts[0] + OFFSET, starts[1]])
    assert starts[1] == pytest.approx(one.duration - 0.5, abs=frame)  # the overlap
    assert voiceovers[1].start - (voiceovers[0].start + SPEECH) == pytest.approx(PAD, abs=frame)
    assert length == round(spec.total_frames * RATE / spec.output.fps)
    assert [effect.start for effect in effects] == [2.345] and music == folder / "audio" / "music.mp3"


def test_audio_settings_are_validated(tmp_path):
    folder = narrated_project(tmp_path / "checked")
    base = (folder / "project.yaml").read_text()

    (folder / "project.yaml").write_text(base + "  loudness: {target: loud}\n")
    with pytest.raises(ProjectError, match=r"project\.yaml: audio\.loudness\.target"):
        load_project(folder)
    settings = "  loudness: {target: streaming, true_peak: -2}\n  ducking: {depth: 9}\n"
    (folder / "project.yaml").write_text(base + settings)
    mix = load_project(folder).audio.mix
    assert (mix.loudness.lufs, mix.loudness.true_peak, mix.ducking.depth) == (-14.0, -2.0, 9.0)
    (folder / "project.yaml").write_text(base + "  loudness: {target: broadcast}\n")
    assert load_project(folder).audio.mix.loudness.lufs == -23.0

    (folder / "audio" / "voiceover" / "two.opus").unlink()  # an auto scene with no narration
    with pytest.raises(ProjectError, match=r"scenes\.1\.duration: 'auto' fits the scene to its voiceover"):
        load_project(folder)
    (folder / "audio" / "voiceover" / "two.opus").write_bytes(b"garbage" * 100)
    with pytest.raises(ProjectError, match=r"scenes\.1\.duration: 'auto' needs the voiceover's length: .*two\.opus"):
        load_project(folder)
