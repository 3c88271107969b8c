"""The settings of a mix, as project.yaml writes them: levels, fades, ducking, loudness.

Plain pydantic models with no media imports, so the project schema (`spec`) can use
them without loading PyAV or numpy; the processing lives in `mixing`, `dynamics` and
`mastering`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LOUDNESS_PRESETS = {
    "podcast": -16.0,  # the default: spoken word, podcasts, most web video
    "streaming": -14.0,  # where YouTube, Spotify and similar play back
    "broadcast": -23.0,  # EBU R128 television and radio
}


class Ducking(BaseModel):
    """How the music makes room for the voice. The music sits at its level while the
    voice speaks; in a pause longer than ``attack + hold`` it rises by ``depth``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depth: float = Field(default=6.0, ge=0.0, le=40.0)
    """dB the music rises in pauses (0 turns ducking off: the music stays at its level)."""
    attack: float = Field(default=0.25, ge=0.01, le=5.0)
    """Seconds over which the music goes down; it is down when the voice starts."""
    hold: float = Field(default=0.6, ge=0.0, le=10.0)
    """Seconds the music stays down after the voice stops, so it does not pump between words."""
    release: float = Field(default=0.8, ge=0.01, le=10.0)
    """Seconds over which the music comes back up after the hold."""
    threshold: float = Field(default=-25.0, ge=-60.0, le=-3.0)
    """The voice counts as speaking where its 10 ms level is within this many dB of its
    matched loudness."""


class LoudnessTarget(BaseModel):
    """Where the finished soundtrack lands: its integrated loudness and true-peak ceiling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: float | Literal["podcast", "streaming", "broadcast"] = "podcast"
    """Integrated loudness in LUFS, or a preset: podcast (-16), streaming (-14),
    broadcast (-23, EBU R128)."""
    true_peak: float = Field(default=-1.0, ge=-9.0, le=0.0)
    """Ceiling in dBTP for the delivered file, kept by a limiter, never by clipping."""
    codec_headroom: float = Field(default=1.0, ge=0.0, le=3.0)
    """dB the master is limited below the ceiling, for what the AAC encode adds to peaks
    (usually under 0.5 dB, more where the limiter works hard; the delivered file is
    checked and, if need be, mastered again with more)."""

    @field_validator("target")
    @classmethod
    def _plausible(cls, value):
        if isinstance(value, (int, float)) and not -40.0 <= value <= -5.0:
            raise ValueError(f"target loudness {value} LUFS is outside -40 .. -5; presets: {sorted(LOUDNESS_PRESETS)}")
        return value

    @property
    def lufs(self) -> float:
        return LOUDNESS_PRESETS[self.target] if isinstance(self.target, str) else float(self.target)

    @property
    def master_ceiling(self) -> float:
        """The true-peak ceiling the master itself is limited to (dBTP)."""
        return self.true_peak - self.codec_headroom


class MixSettings(BaseModel):
    """Project-wide mix settings (levels of individual clips travel with the clips)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    music_level: float = Field(default=0.2, ge=0.0, le=4.0)
    """Music level relative to the loudness-matched voice while the voice speaks (0.2 = -14 dB)."""
    music_fade_in: float = Field(default=1.0, ge=0.0, le=60.0)
    """Seconds the music fades in over at the start of the video."""
    music_fade_out: float = Field(default=2.0, ge=0.0, le=60.0)
    """Seconds the music fades out over at the end of the video."""
    music_loop_crossfade: float = Field(default=0.05, ge=0.0, le=5.0)
    """Seconds of equal-power crossfade where music shorter than the video loops."""
    ducking: Ducking = Ducking()
    loudness: LoudnessTarget = LoudnessTarget()
