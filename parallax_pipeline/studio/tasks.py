"""The single jobs: one picture to a clip (`/v1/renders`), a picture to its depth map
(`/v1/depth`), audio files to a mastered mix (`/v1/mixes`).

Each is the engine call the pipeline's assets make, cached like the assets: its recipe
hashes the input bytes, the settings and a code version, and the artifact is fetched
from, or built into, the pipeline's content store (`ContentStore.get_or_build`), so
the same request twice is computed once. The store then points the job's id at it,
which keeps it out of the store's pruning until the job is deleted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parallax_pipeline.engine.audio.settings import MixSettings
from parallax_pipeline.engine.parallax.camera import Motion, MotionPreset
from parallax_pipeline.project_file import OutputSettings
from parallax_pipeline.recipes import content_hash, digest
from parallax_pipeline.store import Artifact, ContentStore
from parallax_pipeline.studio.errors import Problem, Refused

CODE_VERSIONS = {"render": "1", "depth": "1", "mix": "1"}
ASSETS = {kind: f"studio_{kind}" for kind in CODE_VERSIONS}
"""The store's name for each job's artifacts (beside the pipeline's assets)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RenderSettings(_Strict):
    preset: MotionPreset = "dolly_in"
    duration: float = Field(default=4.0, gt=0.0, le=600.0)
    resolution: str | tuple[int, int] = "1080p"
    aspect: Literal["16:9", "9:16", "1:1"] = "16:9"
    fit: Literal["cover", "contain"] = "cover"
    fps: Literal[24, 25, 30, 60] = 30
    quality: Literal["draft", "standard", "high"] = "standard"
    loop: bool = False

    def output(self) -> OutputSettings:
        return OutputSettings(resolution=self.resolution, fps=self.fps, quality=self.quality, aspect=self.aspect, fit=self.fit)


class PlacedClip(_Strict):
    file: str
    at: float = Field(default=0.0, ge=0.0, le=3600.0)
    level: float = Field(default=1.0, ge=0.0, le=4.0)
    fade_in: float = Field(default=0.0, ge=0.0, le=60.0)
    fade_out: float = Field(default=0.0, ge=0.0, le=60.0)


class MixRequest(_Strict):
    """The ``settings`` field of `/v1/mixes`: where each file goes and the mix settings."""

    duration: Annotated[float, Field(gt=0.0, le=3600.0)] | None = None
    """Seconds; default: until the last voiceover or effect ends (the music's length without them)."""
    voiceover: list[PlacedClip] = []
    effects: list[PlacedClip] = []
    mix: MixSettings = MixSettings()


def parse_settings(model: type[BaseModel], values: dict, field: str) -> BaseModel:
    """Validated settings, or `Refused` (422) with one entry per bad field."""
    try:
        return model.model_validate(values)
    except ValidationError as err:
        raise Refused(422, [
            Problem(("body", field, *(str(part) for part in item["loc"])), item["msg"], item["type"]) for item in err.errors()
        ]) from err


def recipe(kind: str, inputs: dict[str, Path], settings: dict, depth_model: str | None) -> str:
    return digest(kind, CODE_VERSIONS[kind], {role: content_hash(path) for role, path in sorted(inputs.items())}, settings, depth_model)


def _disparity(image_path: Path, depth_path: Path | None, model: str, device: str):
    from parallax_pipeline.engine.depth.maps import supplied_disparity
    from parallax_pipeline.engine.depth.model import load_depth_model
    from parallax_pipeline.engine.parallax.images import load_image

    image = load_image(image_path)
    if depth_path is not None:
        return image, supplied_disparity(depth_path, image)
    return image, load_depth_model(model, device).predict([image])[0]


def run_render(store: ContentStore, job: str, inputs: dict[str, Path], settings: RenderSettings, model: str, device: str) -> tuple[Artifact, bool]:
    from parallax_pipeline.engine.compose.timeline import frames_for
    from parallax_pipeline.engine.parallax import clip

    def build(folder: Path) -> dict:
        image, disparity = _disparity(inputs["image"], inputs.get("depth"), model, device)
        output = settings.output()
        frames = frames_for(settings.duration, output.fps)
        motion = Motion(preset=settings.preset, loop=settings.loop)
        report = clip.render_clip(image, disparity, motion, frames, output.video_settings(), folder / "video.mp4", fit=output.fit)
        width, height = output.size
        return {"frames": report.frames, "width": width, "height": height, "fps": output.fps,
                "duration": round(report.frames / output.fps, 3), "seconds": round(report.total_seconds, 3)}

    key = recipe("render", inputs, settings.model_dump(mode="json"), None if "depth" in inputs else model)
    return _cached(store, "render", key, job, build)


def run_depth(store: ContentStore, job: str, inputs: dict[str, Path], model: str, device: str) -> tuple[Artifact, bool]:
    import cv2

    from parallax_pipeline.engine.depth.maps import depth_preview, write_depth_png

    def build(folder: Path) -> dict:
        image, disparity = _disparity(inputs["image"], None, model, device)
        write_depth_png(folder / "depth.png", disparity)
        cv2.imwrite(str(folder / "preview.png"), cv2.cvtColor(depth_preview(disparity), cv2.COLOR_RGB2BGR))
        return {"width": image.shape[1], "height": image.shape[0], "model": model}

    return _cached(store, "depth", recipe("depth", inputs, {}, model), job, build)


def run_mix(store: ContentStore, job: str, inputs: dict[str, Path], request: MixRequest) -> tuple[Artifact, bool]:
    from parallax_pipeline.engine.audio import mixing
    from parallax_pipeline.engine.audio.codec import audio_seconds, write_wav
    from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE

    def clip(role: str, placed: PlacedClip) -> mixing.ClipSpec:
        return mixing.ClipSpec(path=inputs[role], start=placed.at, level=placed.level, fade_in=placed.fade_in,
                               fade_out=placed.fade_out, label=placed.file)

    voiceovers = [clip(f"voiceover/{placed.file}", placed) for placed in request.voiceover]
    effects = [clip(f"sfx/{placed.file}", placed) for placed in request.effects]
    music = inputs.get("music")

    def build(folder: Path) -> dict:
        seconds = request.duration
        if seconds is None:
            ends = [c.start + audio_seconds(c.path) for c in voiceovers + effects]
            seconds = max(ends) if ends else audio_seconds(music)
        length = round(seconds * SAMPLE_RATE)
        result = mixing.render_mix(length, voiceovers, music, effects, request.mix)
        write_wav(folder / "mix.wav", result.samples)
        return {"duration": round(length / SAMPLE_RATE, 3), "sample_rate": SAMPLE_RATE,
                **result.master.report.as_metadata(), "target_lufs": request.mix.loudness.lufs,
                "true_peak_ceiling_dbtp": request.mix.loudness.true_peak, "warnings": result.warnings}

    return _cached(store, "mix", recipe("mix", inputs, request.model_dump(mode="json"), None), job, build)


def _cached(store: ContentStore, kind: str, key: str, job: str, build) -> tuple[Artifact, bool]:
    artifact, hit = store.get_or_build(ASSETS[kind], key, build)
    store.point(ASSETS[kind], job, artifact)
    return artifact, hit
