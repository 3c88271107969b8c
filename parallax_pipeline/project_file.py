"""The schema of ``project.yaml``: what a user may write, validated field by field.

`read_project_file` turns the file into a `ProjectFile`; `spec.load_project` resolves it
against the project folder (conventions, paths, durations) into a `ProjectSpec`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parallax_pipeline.engine.audio.settings import MixSettings
from parallax_pipeline.engine.compose.transitions import Transition
from parallax_pipeline.engine.parallax.camera import Motion
from parallax_pipeline.engine.parallax.images import IMAGE_SUFFIXES  # noqa: F401 - the one list, used by spec

PROJECT_FILE = "project.yaml"
DEPTH_SUFFIXES = (".png", ".npy")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".flac")
# Project names become Dagster partition keys: no '|' (a multi-partition key's separator,
# such a key silently vanishes from key lists) or ',' (breaks UI backfills), and nothing a
# path could abuse. Scene ids follow the same rule.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_SCENES = 999
"""Scenes one project may have (scene partitions are keyed by a three-digit position)."""


def name_problem(name: str) -> str:
    """Why ``name`` cannot name a project, in words."""
    if "|" in name or "," in name:
        return (
            f"project folder name {name!r} contains {'|' if '|' in name else ','!r}: names become Dagster "
            "partition keys, where '|' separates dimensions and ',' separates keys; rename the folder"
        )
    return (
        f"project folder name {name!r} must be 1 to 64 letters, digits, '-' or '_', starting with a "
        f"letter or digit ({NAME_PATTERN})"
    )

RESOLUTIONS = {
    "360p": (640, 360),
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "2160p": (3840, 2160),
}
QUALITY = {
    # name: (x264 crf, x264 preset)
    "draft": (28, "ultrafast"),
    "standard": (20, "veryfast"),
    "high": (16, "medium"),
}
ASPECTS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}
"""Frame shapes a preset resolution can take: the preset's short side (1080 for 1080p)
stays, the long side follows the aspect (1080p at 9:16 is 1080x1920, at 1:1 1080x1080)."""


class ProjectError(ValueError):
    """A project folder or its project.yaml is unusable; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutputSettings(_Strict):
    """Size, rate and quality of the rendered video."""

    resolution: str | tuple[int, int] = "1080p"
    """A preset name (360p … 2160p) or [width, height] in pixels; sizes are kept even."""
    fps: Literal[24, 25, 30, 60] = 30
    """Frames per second."""
    quality: Literal["draft", "standard", "high"] = "standard"
    """Encoder quality preset (x264 CRF and speed)."""
    aspect: Literal["16:9", "9:16", "1:1"] = "16:9"
    """Frame shape for a preset resolution: landscape, portrait (vertical video) or
    square; the preset's short side stays. A [width, height] resolution sets its own."""
    fit: Literal["cover", "contain"] = "cover"
    """How a picture of another shape fills the frame: ``cover`` scales it to cover the
    frame and crops the excess; ``contain`` shows all of it, the bands beside it filled
    with an inpainted continuation of the picture (never black)."""

    @field_validator("resolution")
    @classmethod
    def _known_resolution(cls, value):
        if isinstance(value, str) and value not in RESOLUTIONS:
            raise ValueError(f"unknown resolution {value!r}; use one of {sorted(RESOLUTIONS)} or [width, height]")
        if isinstance(value, tuple) and not all(16 <= side <= 8192 for side in value):
            raise ValueError("width and height must lie between 16 and 8192 pixels")
        return value

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, both even (H.264 yuv420p needs them so)."""
        if isinstance(self.resolution, str):
            width, height = RESOLUTIONS[self.resolution]
            if self.aspect != "16:9":  # the presets are 16:9; keep their short side
                across, down = ASPECTS[self.aspect]
                width, height = height, round(height * down / across)
        else:
            width, height = self.resolution
        return width - width % 2, height - height % 2

    @property
    def crf(self) -> int:
        return QUALITY[self.quality][0]

    @property
    def encoder_preset(self) -> str:
        return QUALITY[self.quality][1]

    def video_settings(self):
        """The encoder settings this output asks for (a `video.codec.VideoSettings`)."""
        from parallax_pipeline.engine.video.codec import VideoSettings  # PyAV: loaded when encoding

        width, height = self.size
        return VideoSettings(width, height, self.fps, crf=self.crf, preset=self.encoder_preset)


class SceneDefaults(_Strict):
    duration: float = Field(default=4.0, gt=0.0, le=600.0)
    """Seconds on screen."""
    motion: Motion = Motion()
    transition: Transition = Transition()


class SceneEntry(_Strict):
    """One scene as written in project.yaml; unset fields take the project defaults."""

    id: str | None = Field(default=None, pattern=NAME_PATTERN)
    image: str
    depth: str | None = None
    duration: Annotated[float, Field(gt=0.0, le=600.0)] | Literal["auto"] | None = None
    """Seconds on screen, or ``auto``: as long as the voiceover (after its offset) plus
    ``audio.auto_pad``, plus the outgoing transition, so the picture follows the narration."""
    motion: Motion | None = None
    transition: Transition | None = None
    voiceover: str | None = None
    """Narration for this scene (default ``audio/voiceover/<scene id>.<ext>``)."""
    voiceover_level: float | None = Field(default=None, ge=0.0, le=4.0)
    """Level of this scene's narration after loudness matching (default ``audio.voiceover_level``)."""
    voiceover_offset: float = Field(default=0.0, ge=0.0, le=600.0)
    """Seconds after the scene's start (the start of its incoming transition) the narration begins."""

    @field_validator("duration", mode="before")
    @classmethod
    def _seconds_or_auto(cls, value):
        # One clear message instead of one per member of the union.
        if value is None or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 600:
            raise ValueError(f"duration must be seconds (more than 0, at most 600) or 'auto', got {value!r}")
        return value


class EffectEntry(_Strict):
    file: str
    at: float = Field(ge=0.0)
    """Seconds from the start of the video, or of `scene` when it is set."""
    scene: str | None = None
    gain: float = Field(default=1.0, ge=0.0, le=4.0)
    """Level after loudness matching: 1 is as loud as the voice, 0.5 is 6 dB under it."""
    fade_in: float = Field(default=0.0, ge=0.0, le=60.0)
    """Seconds the effect fades in over."""
    fade_out: float = Field(default=0.0, ge=0.0, le=60.0)
    """Seconds the effect fades out over, at its end."""


class AudioEntry(MixSettings, _Strict):
    """The audio section of project.yaml: the files, and the mix settings (`MixSettings`:
    music level, fades and loop crossfade, ducking, loudness target and true-peak ceiling)."""

    voiceover: str | None = None
    """One narration track for the whole video (per-scene tracks go on the scenes)."""
    music: str | None = None
    voiceover_level: float = Field(default=1.0, ge=0.0, le=4.0)
    """Level of the narration after loudness matching; scenes may set their own."""
    auto_pad: float = Field(default=1.0, ge=0.0, le=60.0)
    """Seconds of picture kept after a voiceover ends when a scene's duration is ``auto``."""
    effects: list[EffectEntry] = []


class ProjectFile(_Strict):
    """The schema of project.yaml."""

    title: str | None = None
    output: OutputSettings = OutputSettings()
    defaults: SceneDefaults = SceneDefaults()
    scenes: list[SceneEntry] | None = None
    audio: AudioEntry = AudioEntry()


def _describe(error: ValidationError, path: Path) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{path}: {field}: {item['msg']}")
    return "\n".join(problems)


MAX_PROJECT_FILE_BYTES = 1024 * 1024
"""A project.yaml is a page of settings; anything much larger is not one."""


class _ProjectLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a project file needs none, and a few nested
    aliases (a "billion laughs" file) expand to more values than memory holds."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases (*{event.anchor}) are not allowed in a project file, line {event.start_mark.line + 1}")
        return super().compose_node(parent, index)


def read_project_file(root: Path) -> ProjectFile:
    """project.yaml validated into a `ProjectFile` (defaults when there is none); every
    problem is a ProjectError naming the file, the field and the reason."""
    path = root / PROJECT_FILE
    if not path.exists():
        return ProjectFile()
    if path.stat().st_size > MAX_PROJECT_FILE_BYTES:
        raise ProjectError(f"{path}: {path.stat().st_size:,} bytes; a project file is at most {MAX_PROJECT_FILE_BYTES:,}")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark from some editors is fine
        raw = yaml.load(text, Loader=_ProjectLoader)  # noqa: S506 - a SafeLoader without aliases
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ProjectError(f"{path}: (top level): expected a mapping of settings, got {type(raw).__name__}")
    try:
        return ProjectFile.model_validate(raw)
    except ValidationError as exc:
        raise ProjectError(_describe(exc, path)) from exc
