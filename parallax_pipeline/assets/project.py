"""Project assets: the composed picture, the mixed soundtrack and the final deliverable."""


import dagster as dg
import numpy as np

from parallax_pipeline import partitions, recipes
from parallax_pipeline.assets.materialize import materialize_artifact
from parallax_pipeline.automation import rebuild_on_upstream_change
from parallax_pipeline.engine import audio, compose, encode, previews
from parallax_pipeline.io_managers import Artifact
from parallax_pipeline.resources import ArtifactStore, ProjectLibrary, Publisher


def _settings(spec) -> encode.VideoSettings:
    width, height = spec.output.size
    return encode.VideoSettings(width, height, spec.output.fps, crf=spec.output.crf, preset=spec.output.encoder_preset)


def _middle_frame(path) -> np.ndarray:
    info = encode.probe(path)
    for index, frame in enumerate(encode.read_frames(path)):
        if index >= info.frames // 2:
            return frame
    raise ValueError(f"{path}: no frames")


@dg.asset(
    partitions_def=partitions.projects,
    code_version=recipes.CODE_VERSIONS["composed_video"],
    ins={
        "parallax_clip": dg.AssetIn(
            partition_mapping=partitions.scenes_of_project,
            metadata={"fan_in": True, "allow_missing_partitions": True},
        )
    },
    automation_condition=rebuild_on_upstream_change(),
    group_name="project",
    kinds={"mp4"},
)
def composed_video(
    context: dg.AssetExecutionContext,
    projects: ProjectLibrary,
    artifacts: ArtifactStore,
    parallax_clip: dict[str, Artifact],
) -> dg.Output[Artifact]:
    """The scene clips in project order, joined by hard cuts."""
    spec = projects.load(context.partition_key)
    clips = []
    for scene in spec.scenes:
        clip = parallax_clip.get(str(partitions.scene_key(spec.name, scene.id)))
        if clip is None:
            raise dg.Failure(
                f"{spec.root}: scene {scene.id!r} has no parallax clip yet: its render failed or has not run. "
                "Fix the scene's input and materialize its depth_map and parallax_clip first."
            )
        clips.append(clip)
    source = recipes.composed_video_source(spec)
    settings = _settings(spec)

    def build(folder):
        out = folder / "video.mp4"
        total = spec.total_frames
        written = compose.concat_clips(
            [clip.path("clip.mp4") for clip in clips],
            out,
            settings,
            on_progress=lambda done: context.log.info(f"{spec.name}: composed {done}/{total} frames"),
        )
        return {
            "scenes": len(clips),
            "frames": written,
            "duration": round(written / settings.fps, 3),
            "width": settings.width,
            "height": settings.height,
            "fps": settings.fps,
            "preview": previews.markdown_image(_middle_frame(out), "middle frame"),
        }

    return materialize_artifact(
        artifacts, "composed_video", source, recipes.combine(source, *(clip.recipe for clip in clips)), build
    )


@dg.asset(
    partitions_def=partitions.projects,
    code_version=recipes.CODE_VERSIONS["mixed_audio"],
    group_name="project",
    kinds={"wav"},
)
def mixed_audio(context: dg.AssetExecutionContext, projects: ProjectLibrary, artifacts: ArtifactStore) -> dg.Output[Artifact]:
    """Voiceover, music and effects mixed to the picture's exact length (48 kHz stereo)."""
    spec = projects.load(context.partition_key)
    source = recipes.mixed_audio_source(spec)

    def build(folder):
        fps = spec.output.fps
        starts = {entry.scene: entry.start_frame / fps for entry in spec.timeline()}
        voiceovers = [
            (starts[scene.id], audio.decode_audio(scene.voiceover), scene.voiceover_level)
            for scene in spec.scenes
            if scene.voiceover is not None
        ]
        if spec.audio.voiceover is not None:
            voiceovers.append((0.0, audio.decode_audio(spec.audio.voiceover), spec.audio.voiceover_level))
        music = audio.decode_audio(spec.audio.music) if spec.audio.music is not None else None
        effects = [(effect.at, audio.decode_audio(effect.file), effect.gain) for effect in spec.audio.effects]
        length = round(spec.total_frames * audio.SAMPLE_RATE / fps)
        mix = audio.mix_tracks(length, voiceovers, music, spec.audio.music_level, effects)
        audio.write_wav(folder / "mix.wav", mix)
        peak = float(np.abs(mix).max()) if mix.size else 0.0
        rms = float(np.sqrt(np.mean(mix.astype(np.float64) ** 2))) if mix.size else 0.0
        return {
            "duration": round(length / audio.SAMPLE_RATE, 3),
            "sample_rate": audio.SAMPLE_RATE,
            "voiceover_tracks": len(voiceovers),
            "music": spec.audio.music.name if spec.audio.music else "none",
            "effects": len(effects),
            "peak_dbfs": round(20 * np.log10(max(peak, 1e-9)), 2),
            "rms_dbfs": round(20 * np.log10(max(rms, 1e-9)), 2),
            "waveform": previews.markdown_image(previews.waveform_image(mix), "waveform", max_width=640),
        }

    return materialize_artifact(artifacts, "mixed_audio", source, source, build)


@dg.asset(
    partitions_def=partitions.projects,
    code_version=recipes.CODE_VERSIONS["final_video"],
    automation_condition=rebuild_on_upstream_change(wait_for_all_deps=True),
    group_name="project",
    kinds={"mp4"},
)
def final_video(
    context: dg.AssetExecutionContext,
    projects: ProjectLibrary,
    artifacts: ArtifactStore,
    publisher: Publisher,
    composed_video: Artifact,
    mixed_audio: Artifact,
) -> dg.Output[Artifact]:
    """The deliverable: the composed picture with the mixed soundtrack as AAC, one MP4."""
    spec = projects.load(context.partition_key)
    source = recipes.final_video_source(spec)

    def build(folder):
        info = encode.mux(composed_video.path("video.mp4"), mixed_audio.path("mix.wav"), folder / "final.mp4")
        return {
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frames": info.frames,
            "duration": round(info.duration, 3),
            "audio_duration": round(info.audio_duration or 0.0, 3),
            "preview": composed_video.info.get("preview"),
        }

    output = materialize_artifact(
        artifacts, "final_video", source, recipes.combine(source, composed_video.recipe, mixed_audio.recipe), build
    )
    published = publisher.publish(output.value.path("final.mp4"), f"{spec.name}.mp4")
    context.log.info(f"{spec.name}: final video published at {published}")
    return dg.Output(
        output.value,
        data_version=output.data_version,
        metadata={**output.metadata, "published": dg.MetadataValue.path(str(published))},
    )
