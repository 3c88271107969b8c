"""The soundtrack: voiceover, music and effects matched in loudness, placed, ducked, mastered.

Levels are relative to stems first matched in loudness: every clip (each voiceover,
the music, each effect) is measured (BS.1770) and brought to ``REFERENCE_LUFS`` before
its level applies, so ``music_level: 0.2`` means the music sits 20·log10(0.2) = -14 dB
under a voice of level 1 whatever the raw files' levels were. While the voice speaks
the music stays there; in longer pauses it rises by the ducking depth.

Time is in samples at 48 kHz: a clip starting at t seconds begins at sample
``round(t · 48000)``, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from parallax_pipeline.engine.audio.clips import apply_fades, fit_length, place
from parallax_pipeline.engine.audio.codec import decode_audio
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE, db_to_gain
from parallax_pipeline.engine.audio.dynamics import (
    CONTROL_STEP,
    control_to_samples,
    duck_curve_db,
    speech_activity,
)
from parallax_pipeline.engine.audio.loudness import clip_loudness
from parallax_pipeline.engine.audio.mastering import MasterResult, master
from parallax_pipeline.engine.audio.settings import MixSettings

REFERENCE_LUFS = -23.0
"""The loudness every stem is matched to before levels apply (a level of 1 = this)."""
MAX_MATCH_BOOST_DB = 30.0
"""A quiet file is raised at most this much: more would only lift its noise."""


@dataclass(frozen=True)
class ClipSpec:
    """An audio file placed in the mix."""

    path: Path
    start: float
    """Seconds from the start of the mix."""
    level: float = 1.0
    """Linear gain after loudness matching (1 = as loud as the reference voice)."""
    fade_in: float = 0.0
    fade_out: float = 0.0
    label: str = ""
    """What the clip is in the project (a scene id, an effect's position), for reports."""

    @property
    def start_sample(self) -> int:
        return round(self.start * SAMPLE_RATE)


@dataclass(frozen=True)
class StemReport:
    """How one input file was matched and placed."""

    kind: str
    label: str
    file: str
    start: float
    seconds: float
    source_lufs: float
    match_gain_db: float
    level_db: float


@dataclass
class MixResult:
    master: MasterResult
    buses: dict[str, np.ndarray]
    """The voice, music and effects buses as summed into the master (before mastering gain)."""
    duck_db: np.ndarray
    """The ducking curve applied to the music, dB over its level, one value per 1 ms."""
    stems: list[StemReport]
    warnings: list[str] = field(default_factory=list)

    @property
    def samples(self) -> np.ndarray:
        return self.master.samples


def match_gain_db(loudness: float) -> float:
    """Gain that brings a stem measured at ``loudness`` LUFS to the reference."""
    if not math.isfinite(loudness):
        return 0.0  # silent: nothing to match
    return min(REFERENCE_LUFS - loudness, MAX_MATCH_BOOST_DB)


def _matched(kind: str, clip: ClipSpec, stems: list[StemReport], warnings: list[str]) -> np.ndarray:
    """Decode a clip, bring it to the reference loudness and record how."""
    samples = decode_audio(clip.path)
    loudness = clip_loudness(samples)
    gain_db = match_gain_db(loudness)
    if not math.isfinite(loudness):
        warnings.append(f"{clip.path}: {kind} is silent")
    elif gain_db == MAX_MATCH_BOOST_DB:
        warnings.append(
            f"{clip.path}: {kind} is very quiet ({loudness:.1f} LUFS); raised by {MAX_MATCH_BOOST_DB:.0f} dB only"
        )
    stems.append(
        StemReport(
            kind=kind,
            label=clip.label,
            file=clip.path.name,
            start=clip.start,
            seconds=samples.shape[1] / SAMPLE_RATE,
            source_lufs=loudness,
            match_gain_db=gain_db,
            level_db=20.0 * math.log10(clip.level) if clip.level > 0 else -math.inf,
        )
    )
    return samples * np.float32(db_to_gain(gain_db))


def render_mix(
    length: int,
    voiceovers: list[ClipSpec],
    music: Path | None,
    effects: list[ClipSpec],
    settings: MixSettings = MixSettings(),
) -> MixResult:
    """Decode, match, place, duck and master a soundtrack of exactly ``length`` samples.

    Raises `MediaError` naming the file when an input cannot be decoded.
    """
    stems: list[StemReport] = []
    warnings: list[str] = []
    end = length / SAMPLE_RATE

    voice = np.zeros((2, length), np.float32)
    active = np.zeros(-(-length // CONTROL_STEP), bool)
    for clip in voiceovers:
        samples = _matched("voiceover", clip, stems, warnings)
        _warn_if_outside(clip, samples, end, "voiceover", warnings)
        place(voice, apply_fades(samples, _n(clip.fade_in), _n(clip.fade_out)), clip.start_sample, clip.level)
        if clip.level > 0:
            # The sidechain: where this clip speaks, at its matched loudness.
            speaking = speech_activity(samples, REFERENCE_LUFS, settings.ducking.threshold)
            first = clip.start_sample // CONTROL_STEP
            lo, hi = max(first, 0), min(first + speaking.size, active.size)
            if hi > lo:
                active[lo:hi] |= speaking[lo - first : hi - first]

    music_bus = np.zeros((2, length), np.float32)
    duck_db = np.zeros(active.size)
    if music is not None:
        bed = _matched("music", ClipSpec(path=music, start=0.0, level=settings.music_level), stems, warnings)
        bed = fit_length(bed, length, loop=True, crossfade=_n(settings.music_loop_crossfade))
        # With no narration at all, the whole video is a pause.
        duck_db = (
            duck_curve_db(active, settings.ducking) if voiceovers else np.full(active.size, settings.ducking.depth)
        )
        gain = control_to_samples(settings.music_level * db_to_gain(duck_db), length)
        music_bus = apply_fades(bed * gain, _n(settings.music_fade_in), _n(settings.music_fade_out))

    effects_bus = np.zeros((2, length), np.float32)
    for clip in effects:
        samples = _matched("effect", clip, stems, warnings)
        _warn_if_outside(clip, samples, end, "effect", warnings)
        place(effects_bus, apply_fades(samples, _n(clip.fade_in), _n(clip.fade_out)), clip.start_sample, clip.level)

    mastered = master(voice + music_bus + effects_bus, settings.loudness)
    if mastered.limiter_reduction_db > 6.0:
        warnings.append(
            f"the limiter reduced peaks by up to {mastered.limiter_reduction_db:.1f} dB to reach "
            f"{settings.loudness.lufs:g} LUFS: the mix may sound squashed; a lower target would avoid it"
        )
    achieved = mastered.report.integrated_lufs
    if math.isfinite(achieved) and achieved < settings.loudness.lufs - 0.5:
        warnings.append(
            f"the master reaches only {achieved:.1f} LUFS of the {settings.loudness.lufs:g} LUFS target under a "
            f"{settings.loudness.true_peak:g} dBTP ceiling: the mix is too peaky for that target"
        )
    return MixResult(
        master=mastered,
        buses={"voice": voice, "music": music_bus, "effects": effects_bus},
        duck_db=duck_db,
        stems=stems,
        warnings=warnings,
    )


def _n(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def _warn_if_outside(clip: ClipSpec, samples: np.ndarray, end: float, kind: str, warnings: list[str]) -> None:
    finish = clip.start + samples.shape[1] / SAMPLE_RATE
    if clip.start >= end:
        warnings.append(
            f"{clip.path}: {kind} {clip.label} starts at {clip.start:.3f} s, after the video ends ({end:.3f} s)"
        )
    elif finish > end + 1e-3:
        warnings.append(f"{clip.path}: {kind} {clip.label} is cut {finish - end:.2f} s short by the end of the video")
