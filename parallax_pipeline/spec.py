"""A video project on disk, validated into one typed `ProjectSpec`.

A project is a folder ``projects/<name>/`` holding ``images/``, optional ``depth/``,
optional ``audio/`` and an optional ``project.yaml``. Whatever the file leaves out is
discovered from the folder by convention (see `load_project`). Every path the file names
is resolved inside the project folder; one that escapes it is an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parallax_pipeline.engine import timeline as timeline_math
from parallax_pipeline.engine.camera import Motion
from parallax_pipeline.engine.mix_settings import MixSettings
from parallax_pipeline.engine.transitions import Transition

PROJECT_FILE = "project.yaml"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
DEPTH_SUFFIXES = (".png", ".npy")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".flac")
# Names become Dagster partition keys: no '|' or ',' and nothing a path could abuse.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

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
        """The encoder settings this output asks for (an `encode.VideoSettings`)."""
        from parallax_pipeline.engine.encode import VideoSettings  # PyAV only when encoding

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


# ----------------------------------------------------------------------------- resolved


def frames_for(duration: float, fps: int) -> int:
    """Frames a scene of `duration` seconds occupies: rounded to the nearest frame, at least one."""
    return max(1, round(duration * fps))


class Scene(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    image: Path
    depth: Path | None
    duration: float
    motion: Motion
    transition: Transition
    voiceover: Path | None
    voiceover_level: float
    voiceover_offset: float = 0.0
    """Seconds from the scene's first frame to the start of its narration."""


class Effect(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: Path
    at: float
    """Seconds from the start of the video."""
    gain: float
    fade_in: float = 0.0
    fade_out: float = 0.0


class Audio(BaseModel):
    model_config = ConfigDict(frozen=True)

    voiceover: Path | None
    music: Path | None
    voiceover_level: float
    effects: tuple[Effect, ...]
    mix: MixSettings = MixSettings()
    """Music level, fades, ducking, loudness target and ceiling."""

    @property
    def music_level(self) -> float:
        return self.mix.music_level


class TimelineEntry(BaseModel):
    """Where one scene sits in the finished video, in frames at the project's fps.

    Scenes joined by a transition overlap: scene ``i + 1`` starts ``overlap_out`` frames
    before scene ``i`` ends, and both are on screen (blended) during those frames. So
    ``start_frame`` is the first frame in which any of the scene is visible (the start of
    its incoming transition); the scene is shown alone in frames
    ``[start_frame + overlap_in, start_frame + frames − overlap_out)``.
    """

    model_config = ConfigDict(frozen=True)

    scene: str
    start_frame: int
    """First frame of this scene in the final video (where its incoming transition begins)."""
    frames: int
    """Frames of the scene's clip, overlaps included."""
    overlap_in: int = 0
    """Frames shared with the previous scene (its transition into this one)."""
    overlap_out: int = 0
    """Frames shared with the next scene (this scene's transition); 0 for the last scene."""

    @property
    def end_frame(self) -> int:
        """One past the scene's last frame in the final video."""
        return self.start_frame + self.frames


class ProjectSpec(BaseModel):
    """A project with every default applied and every path resolved inside its folder."""

    model_config = ConfigDict(frozen=True)

    name: str
    root: Path
    title: str
    output: OutputSettings
    scenes: tuple[Scene, ...]
    audio: Audio

    def scene(self, scene_id: str) -> Scene:
        for scene in self.scenes:
            if scene.id == scene_id:
                return scene
        raise ProjectError(f"{self.root}: project {self.name!r} has no scene {scene_id!r}")

    def scene_frames(self, scene: Scene) -> int:
        return frames_for(scene.duration, self.output.fps)

    def timeline(self) -> tuple[TimelineEntry, ...]:
        """Where each scene sits in the video, in frames (see `TimelineEntry`).

        Total length = Σ scene frames − Σ transition overlaps. A scene's transition leads
        into the next scene; the last scene's transition is ignored.
        """
        return plan_timeline(self.scenes, self.output.fps, str(self.root / PROJECT_FILE))

    def transitions(self) -> tuple[Transition, ...]:
        """The transitions between consecutive scenes (one fewer than the scenes)."""
        return tuple(scene.transition for scene in self.scenes[:-1])

    @property
    def total_frames(self) -> int:
        """Frames of the finished video: Σ scene frames − Σ transition overlaps."""
        return self.timeline()[-1].end_frame

    @property
    def duration(self) -> float:
        return self.total_frames / self.output.fps


def plan_timeline(scenes: tuple[Scene, ...] | list[Scene], fps: int, where: str) -> tuple[TimelineEntry, ...]:
    """Lay scenes out with their transitions (`engine.timeline.plan`); a transition that
    does not fit its scenes is a ProjectError naming ``where`` (the project file) and the scene."""
    frames = [frames_for(scene.duration, fps) for scene in scenes]
    overlaps = [scene.transition.overlap_frames(fps) for scene in scenes[:-1]]
    try:
        placements = timeline_math.plan(frames, overlaps, [scene.id for scene in scenes])
    except timeline_math.TimelineError as exc:
        raise ProjectError(f"{where}: {exc}") from exc
    return tuple(
        TimelineEntry(
            scene=place.name,
            start_frame=place.start,
            frames=place.frames,
            overlap_in=place.overlap_in,
            overlap_out=place.overlap_out,
        )
        for place in placements
    )


# ----------------------------------------------------------------------------- loading


def inside_project(root: Path, relative: str, where: str) -> Path:
    """Resolve a path from a project file, refusing anything outside the project folder."""
    if not relative or Path(relative).is_absolute():
        raise ProjectError(f"{where}: path {relative!r} must be relative to the project folder")
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ProjectError(f"{where}: path {relative!r} escapes the project folder {root}")
    return path


def _existing(root: Path, relative: str, where: str) -> Path:
    path = inside_project(root, relative, where)
    if not path.is_file():
        raise ProjectError(f"{where}: file {relative!r} does not exist in {root}")
    return path


def _first(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate.resolve()
    return None


def _scene_id(stem: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:64]
    return cleaned or "scene"


def _describe(error: ValidationError, path: Path) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{path}: {field}: {item['msg']}")
    return "\n".join(problems)


def read_project_file(root: Path) -> ProjectFile:
    path = root / PROJECT_FILE
    if not path.exists():
        return ProjectFile()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ProjectError(f"{path}: (top level): expected a mapping of settings, got {type(raw).__name__}")
    try:
        return ProjectFile.model_validate(raw)
    except ValidationError as exc:
        raise ProjectError(_describe(exc, path)) from exc


def load_project(root: Path | str) -> ProjectSpec:
    """Validate a project folder into a `ProjectSpec`.

    Conventions for what project.yaml leaves out: scenes are the files of ``images/`` in
    name order, named by their stem; a scene's depth map is ``depth/<scene>.png`` (16-bit,
    1 = nearest) or ``.npy``; its voiceover ``audio/voiceover/<scene>.<ext>``; the music
    ``audio/music.<ext>``; one narration track ``audio/voiceover.<ext>``.
    """
    root = Path(root)
    name = root.name
    if not re.match(NAME_PATTERN, name):
        raise ProjectError(f"{root}: project folder name must match {NAME_PATTERN}")
    if not root.is_dir():
        raise ProjectError(f"{root}: project folder does not exist")
    config = read_project_file(root)
    where = str(root / PROJECT_FILE)

    entries = config.scenes
    if entries is None:
        images = sorted(
            p for p in (root / "images").glob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        entries = [SceneEntry(image=str(p.relative_to(root))) for p in images]
    if not entries:
        raise ProjectError(f"{root}: project has no scenes (no images in {root / 'images'})")

    defaults = config.defaults
    scenes, seen = [], set()
    for index, entry in enumerate(entries):
        is_last = index == len(entries) - 1
        field = f"{where}: scenes.{index}"
        image = _existing(root, entry.image, f"{field}.image")
        scene_id = entry.id or _scene_id(image.stem)
        if scene_id in seen:
            raise ProjectError(f"{field}.id: scene id {scene_id!r} is used twice; give scenes distinct ids")
        seen.add(scene_id)
        depth = (
            _existing(root, entry.depth, f"{field}.depth")
            if entry.depth
            else _first(root / "depth", scene_id, DEPTH_SUFFIXES)
        )
        voiceover = (
            _existing(root, entry.voiceover, f"{field}.voiceover")
            if entry.voiceover
            else _first(root / "audio" / "voiceover", scene_id, AUDIO_SUFFIXES)
        )
        transition = entry.transition or defaults.transition
        duration = entry.duration or defaults.duration
        if duration == "auto":
            duration = _auto_duration(
                f"{field}.duration", voiceover, entry.voiceover_offset, config.audio.auto_pad,
                0.0 if is_last else transition.duration,
            )
        scenes.append(
            Scene(
                id=scene_id,
                image=image,
                depth=depth,
                duration=duration,
                motion=entry.motion or defaults.motion,
                transition=transition,
                voiceover=voiceover,
                voiceover_level=(
                    entry.voiceover_level if entry.voiceover_level is not None else config.audio.voiceover_level
                ),
                voiceover_offset=entry.voiceover_offset,
            )
        )

    spec_audio = config.audio
    effects = []
    # Scene-relative effects start where the scene first shows (its incoming transition).
    starts = {entry.scene: entry.start_frame / config.output.fps for entry in plan_timeline(scenes, config.output.fps, where)}
    for index, effect in enumerate(spec_audio.effects):
        field = f"{where}: audio.effects.{index}"
        if effect.scene is not None and effect.scene not in starts:
            raise ProjectError(f"{field}.scene: no scene named {effect.scene!r}")
        offset = starts[effect.scene] if effect.scene else 0.0
        effects.append(
            Effect(
                file=_existing(root, effect.file, f"{field}.file"),
                at=offset + effect.at,
                gain=effect.gain,
                fade_in=effect.fade_in,
                fade_out=effect.fade_out,
            )
        )
    audio = Audio(
        voiceover=(
            _existing(root, spec_audio.voiceover, f"{where}: audio.voiceover")
            if spec_audio.voiceover
            else _first(root / "audio", "voiceover", AUDIO_SUFFIXES)
        ),
        music=(
            _existing(root, spec_audio.music, f"{where}: audio.music")
            if spec_audio.music
            else _first(root / "audio", "music", AUDIO_SUFFIXES)
        ),
        voiceover_level=spec_audio.voiceover_level,
        effects=tuple(effects),
        mix=MixSettings.model_validate(spec_audio.model_dump(include=set(MixSettings.model_fields))),
    )
    return ProjectSpec(
        name=name,
        root=root.resolve(),
        title=config.title or name,
        output=config.output,
        scenes=tuple(scenes),
        audio=audio,
    )


def _auto_duration(where: str, voiceover: Path | None, offset: float, pad: float, outgoing: float) -> float:
    """A scene duration of ``auto``: its narration (decoded once; remembered while the
    file is unchanged) after its offset, the pad, and the outgoing transition's overlap,
    so the next scene's narration starts ``pad`` seconds after this one ends."""
    from parallax_pipeline.engine.audio import audio_seconds  # PyAV: imported only when needed
    from parallax_pipeline.engine.errors import MediaError

    if voiceover is None:
        raise ProjectError(f"{where}: 'auto' fits the scene to its voiceover, and the scene has none")
    try:
        seconds = audio_seconds(voiceover)
    except MediaError as exc:
        raise ProjectError(f"{where}: 'auto' needs the voiceover's length: {exc}") from exc
    return min(offset + seconds + pad + outgoing, 600.0)


def discover_projects(projects_root: Path | str) -> list[Path]:
    """Project folders under the projects root: those holding images/ or a project.yaml."""
    projects_root = Path(projects_root)
    if not projects_root.is_dir():
        return []
    return sorted(
        p
        for p in projects_root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and ((p / "images").is_dir() or (p / PROJECT_FILE).is_file())
    )
