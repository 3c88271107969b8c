"""A video project on disk, validated into one typed `ProjectSpec`.

A project is a folder ``projects/<name>/`` holding ``images/``, optional ``depth/``,
optional ``audio/`` and an optional ``project.yaml``. Whatever the file leaves out is
discovered from the folder by convention (see `load_project`). Every path the file names
is resolved inside the project folder; one that escapes it is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from parallax_pipeline.engine.audio.settings import MixSettings
from parallax_pipeline.engine.compose import timeline as timeline_math
from parallax_pipeline.engine.compose.timeline import Placement, frames_for
from parallax_pipeline.engine.compose.transitions import Transition
from parallax_pipeline.engine.parallax.camera import Motion
from parallax_pipeline.project_file import (
    MAX_SCENES,
    AUDIO_SUFFIXES,
    DEPTH_SUFFIXES,
    IMAGE_SUFFIXES,
    NAME_PATTERN,
    PROJECT_FILE,
    OutputSettings,
    ProjectError,
    SceneEntry,
    name_problem,
    read_project_file,
)

# ----------------------------------------------------------------------------- resolved


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


class ProjectSpec(BaseModel):
    """A project with every default applied and every path resolved inside its folder."""

    model_config = ConfigDict(frozen=True)

    name: str
    root: Path
    title: str
    output: OutputSettings
    scenes: tuple[Scene, ...]
    audio: Audio
    warnings: tuple[str, ...] = ()
    """Files in the project folder it does not use, each with the reason."""

    def scene_at(self, index: int) -> Scene:
        """The scene at a 0-based position (a scene partition's key)."""
        if not 0 <= index < len(self.scenes):
            raise ProjectError(
                f"{self.root}: project {self.name!r} has {len(self.scenes)} scene(s); position {index + 1} is empty"
            )
        return self.scenes[index]

    def scene(self, scene_id: str) -> Scene:
        for scene in self.scenes:
            if scene.id == scene_id:
                return scene
        raise ProjectError(f"{self.root}: project {self.name!r} has no scene {scene_id!r}")

    def scene_frames(self, scene: Scene) -> int:
        return frames_for(scene.duration, self.output.fps)

    def timeline(self) -> tuple[Placement, ...]:
        """Where each scene sits in the video, in frames (see `timeline.Placement`).

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
        return self.timeline()[-1].end

    @property
    def duration(self) -> float:
        return self.total_frames / self.output.fps

    def scene_starts(self) -> dict[str, float]:
        """Seconds from the start of the video to each scene's first frame (where its
        incoming transition begins): where its narration and scene-relative effects go."""
        return start_seconds(self.timeline(), self.output.fps)


def plan_timeline(scenes: tuple[Scene, ...] | list[Scene], fps: int, where: str) -> tuple[Placement, ...]:
    """Lay scenes out with their transitions (`timeline.plan`); a transition that does
    not fit its scenes is a ProjectError naming ``where`` (the project file) and the scene."""
    frames = [frames_for(scene.duration, fps) for scene in scenes]
    overlaps = [scene.transition.overlap_frames(fps) for scene in scenes[:-1]]
    try:
        return timeline_math.plan(frames, overlaps, [scene.id for scene in scenes])
    except timeline_math.TimelineError as exc:
        raise ProjectError(f"{where}: {exc}") from exc


def start_seconds(placements: tuple[Placement, ...], fps: int) -> dict[str, float]:
    """Scene id -> seconds from the start of the video to the scene's first frame."""
    return {place.name: place.start / fps for place in placements}


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


def _first(root: Path, folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first ``<stem><suffix>`` in ``folder`` (a file found by convention), held to
    the same containment as paths in project.yaml: a link out of the project is an error."""
    for suffix in suffixes:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            resolved = candidate.resolve()
            if not resolved.is_relative_to(root.resolve()):
                raise ProjectError(
                    f"{candidate}: links to {resolved}, outside the project folder {root}; "
                    "copy the file into the project instead"
                )
            return resolved
    return None


def _scene_id(stem: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:64]
    return cleaned or "scene"


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
        raise ProjectError(f"{root}: {name_problem(name)}")
    if not root.is_dir():
        raise ProjectError(f"{root}: project folder does not exist")
    config = read_project_file(root)
    where = str(root / PROJECT_FILE)

    entries = config.scenes
    if entries is None:
        images = sorted(
            p for p in (root / "images").glob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        entries = [SceneEntry(image=str(p.relative_to(root))) for p in images]
    if not entries:
        raise ProjectError(f"{root}: project has no scenes (no images in {root / 'images'})")
    if len(entries) > MAX_SCENES:
        raise ProjectError(
            f"{where}: {len(entries)} scenes; a project may have at most {MAX_SCENES}: split it into several projects"
        )

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
            else _first(root, root / "depth", scene_id, DEPTH_SUFFIXES)
        )
        voiceover = (
            _existing(root, entry.voiceover, f"{field}.voiceover")
            if entry.voiceover
            else _first(root, root / "audio" / "voiceover", scene_id, AUDIO_SUFFIXES)
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
    starts = start_seconds(plan_timeline(scenes, config.output.fps, where), config.output.fps)
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
            else _first(root, root / "audio", "voiceover", AUDIO_SUFFIXES)
        ),
        music=(
            _existing(root, spec_audio.music, f"{where}: audio.music")
            if spec_audio.music
            else _first(root, root / "audio", "music", AUDIO_SUFFIXES)
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
        warnings=unused_files(root, scenes, audio, listed_scenes=config.scenes is not None),
    )


DOCUMENT_SUFFIXES = (".md", ".txt", ".rst", ".pdf")
"""Notes kept beside the media (a README): not reported as unused."""


def unused_files(root: Path, scenes: list[Scene], audio: Audio, listed_scenes: bool) -> tuple[str, ...]:
    """Every file in the project folder that the project does not use, with the reason,
    so a picture in a format we do not read, or a voiceover named after no scene, is
    reported rather than silently left out."""
    base = root.resolve()
    used = {base / PROJECT_FILE}
    for scene in scenes:
        used |= {p for p in (scene.image, scene.depth, scene.voiceover) if p is not None}
    used |= {p for p in (audio.voiceover, audio.music) if p is not None}
    used |= {effect.file for effect in audio.effects}
    scene_ids = {scene.id for scene in scenes}
    notes = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.suffix.lower() in DOCUMENT_SUFFIXES:
            continue
        if path.resolve() in used:
            continue
        top, suffix, stem = relative.parts[0], path.suffix.lower(), path.stem
        if top == "images" and suffix not in IMAGE_SUFFIXES:
            reason = f"unsupported type {suffix or '(no extension)'}: pictures can be {', '.join(IMAGE_SUFFIXES)}"
        elif top == "images":
            reason = "not a scene: project.yaml lists its scenes and this picture is not among them"
            if not listed_scenes:
                reason = "not used"
        elif top == "depth" and suffix not in DEPTH_SUFFIXES:
            reason = f"unsupported type {suffix or '(no extension)'}: depth maps can be {', '.join(DEPTH_SUFFIXES)}"
        elif top == "depth" and stem in scene_ids:
            reason = f"scene {stem!r} uses another depth map (project.yaml names it, or a {DEPTH_SUFFIXES[0]} comes first)"
        elif top == "depth":
            reason = f"no matching scene: depth maps are named after scene ids ({', '.join(sorted(scene_ids))})"
        elif top == "audio" and suffix not in AUDIO_SUFFIXES:
            reason = f"unsupported type {suffix or '(no extension)'}: audio can be {', '.join(AUDIO_SUFFIXES)}"
        elif relative.parts[:2] == ("audio", "voiceover") and stem not in scene_ids:
            reason = f"no matching scene: voiceovers are named after scene ids ({', '.join(sorted(scene_ids))})"
        else:
            reason = "not used: project.yaml does not name it and no folder convention covers it"
        notes.append(f"{relative}: {reason}")
    return tuple(notes)


def _auto_duration(where: str, voiceover: Path | None, offset: float, pad: float, outgoing: float) -> float:
    """A scene duration of ``auto``: its narration (decoded once; remembered while the
    file is unchanged) after its offset, the pad, and the outgoing transition's overlap,
    so the next scene's narration starts ``pad`` seconds after this one ends."""
    from parallax_pipeline.engine.audio.codec import audio_seconds  # PyAV: imported only when needed
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
