"""A video project on disk, validated into one typed `ProjectSpec`.

A project is a folder ``projects/<name>/`` holding ``images/``, optional ``depth/``,
optional ``audio/`` and an optional ``project.yaml``. Whatever the file leaves out is
discovered from the folder by convention (see `load_project`). Every path the file names
is resolved inside the project folder; one that escapes it is an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parallax_pipeline.engine.camera import Motion

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
        width, height = RESOLUTIONS[self.resolution] if isinstance(self.resolution, str) else self.resolution
        return width - width % 2, height - height % 2

    @property
    def crf(self) -> int:
        return QUALITY[self.quality][0]

    @property
    def encoder_preset(self) -> str:
        return QUALITY[self.quality][1]


class Transition(_Strict):
    """How a scene gives way to the next one."""

    type: Literal["cut"] = "cut"
    duration: float = Field(default=0.0, ge=0.0)
    """Seconds of overlap with the next scene."""


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
    duration: float | None = Field(default=None, gt=0.0, le=600.0)
    motion: Motion | None = None
    transition: Transition | None = None
    voiceover: str | None = None
    voiceover_level: float | None = Field(default=None, ge=0.0, le=4.0)


class EffectEntry(_Strict):
    file: str
    at: float = Field(ge=0.0)
    """Seconds from the start of the video, or of `scene` when it is set."""
    scene: str | None = None
    gain: float = Field(default=1.0, ge=0.0, le=4.0)


class AudioEntry(_Strict):
    voiceover: str | None = None
    """One narration track for the whole video (per-scene tracks go on the scenes)."""
    music: str | None = None
    voiceover_level: float = Field(default=1.0, ge=0.0, le=4.0)
    music_level: float = Field(default=0.2, ge=0.0, le=4.0)
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


class Effect(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: Path
    at: float
    """Seconds from the start of the video."""
    gain: float


class Audio(BaseModel):
    model_config = ConfigDict(frozen=True)

    voiceover: Path | None
    music: Path | None
    voiceover_level: float
    music_level: float
    effects: tuple[Effect, ...]


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    scene: str
    start_frame: int
    frames: int


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
        """Where each scene sits in the video, in frames (hard cuts: scenes abut)."""
        entries, start = [], 0
        for scene in self.scenes:
            frames = self.scene_frames(scene)
            entries.append(TimelineEntry(scene=scene.id, start_frame=start, frames=frames))
            start += frames
        return tuple(entries)

    @property
    def total_frames(self) -> int:
        return sum(entry.frames for entry in self.timeline())

    @property
    def duration(self) -> float:
        return self.total_frames / self.output.fps


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
        scenes.append(
            Scene(
                id=scene_id,
                image=image,
                depth=depth,
                duration=entry.duration or defaults.duration,
                motion=entry.motion or defaults.motion,
                transition=entry.transition or defaults.transition,
                voiceover=voiceover,
                voiceover_level=(
                    entry.voiceover_level if entry.voiceover_level is not None else config.audio.voiceover_level
                ),
            )
        )

    spec_audio = config.audio
    effects = []
    starts, start = {}, 0
    for scene in scenes:
        starts[scene.id] = start / config.output.fps
        start += frames_for(scene.duration, config.output.fps)
    for index, effect in enumerate(spec_audio.effects):
        field = f"{where}: audio.effects.{index}"
        if effect.scene is not None and effect.scene not in starts:
            raise ProjectError(f"{field}.scene: no scene named {effect.scene!r}")
        offset = starts[effect.scene] if effect.scene else 0.0
        effects.append(
            Effect(file=_existing(root, effect.file, f"{field}.file"), at=offset + effect.at, gain=effect.gain)
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
        music_level=spec_audio.music_level,
        effects=tuple(effects),
    )
    return ProjectSpec(
        name=name,
        root=root.resolve(),
        title=config.title or name,
        output=config.output,
        scenes=tuple(scenes),
        audio=audio,
    )


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
