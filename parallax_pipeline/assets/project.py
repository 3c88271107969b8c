"""Project assets: the composed picture, the mixed soundtrack and the final deliverable."""

import math
import time
from collections import Counter
from pathlib import Path

import dagster as dg

from parallax_pipeline import partitions, recipes
from parallax_pipeline.assets.materialize import materialize_artifact
from parallax_pipeline.automation import rebuild_on_upstream_change
from parallax_pipeline.engine import delivery, previews
from parallax_pipeline.engine.audio import mixing
from parallax_pipeline.engine.audio.codec import write_wav
from parallax_pipeline.engine.audio.dsp import SAMPLE_RATE
from parallax_pipeline.engine.audio.preview import mix_picture
from parallax_pipeline.engine.compose import programme
from parallax_pipeline.engine.compose.timeline import poster_frame
from parallax_pipeline.engine.video.codec import read_frame
from parallax_pipeline.engine.video.parts import HEAD, SOLO, TAIL, SceneParts
from parallax_pipeline.resources import ArtifactStore, DepthModel, ProjectLibrary, Publisher
from parallax_pipeline.store import Artifact

# Encoded transitions of compositions, kept across runs so a change re-encodes only the
# transitions it touches (see engine/compose/programme.py). Pruned to this size, oldest use first.
SEGMENT_FOLDER = "segments"
SEGMENT_CACHE_BYTES = 20 * 1024**3


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
    depth_model: DepthModel,
    parallax_clip: dict[str, Artifact],
) -> dg.Output[Artifact]:
    """The scene clips in project order, joined by their transitions (project.yaml).

    Every frame is encoded once: each scene's solo part is its clip's own H.264 segment,
    stream-copied; each transition is blended from the clips' lossless frames and encoded
    as a segment kept in the store's segment cache, so after a change only the
    transitions it touches are encoded again.
    """
    spec = projects.load(context.partition_key)
    clips = []
    for index, scene in enumerate(spec.scenes):
        key = str(partitions.scene_key(spec.name, index))
        clip = parallax_clip.get(key)
        if clip is None:
            raise dg.Failure(
                f"{spec.root}: scene {scene.id!r} [{key}] has no parallax clip yet: its render failed or has not run. "
                "Fix the scene's input and materialize its depth_map and parallax_clip first."
            )
        expected = recipes.combine(
            recipes.parallax_clip_source(spec, scene), recipes.depth_map_source(scene, depth_model.model)
        )
        if clip.recipe != expected:
            # Partitions are scene positions: after scenes were added, removed or reordered
            # (or edited), a position holds the old clip until it is materialized again.
            raise dg.Failure(
                f"{spec.root}: the parallax clip at [{key}] was not made from scene {scene.id!r} as it is now "
                "(scenes were edited, added, removed or reordered); materialize depth_map and parallax_clip "
                f"for {key} first (the projects sensor does)."
            )
        if "overlap_in" not in clip.info:
            raise dg.Failure(
                f"{spec.root}: scene {scene.id!r}'s parallax clip was made by an older version that did not keep "
                "its transition frames; materialize its parallax_clip again."
            )
        clips.append(clip)
    source = recipes.composed_video_source(spec)
    settings = spec.output.video_settings()

    def build(folder):
        started = time.perf_counter()
        out = folder / "video.mp4"
        total = spec.total_frames
        cache = programme.SegmentCache(artifacts.open().root / SEGMENT_FOLDER)
        parts = [
            SceneParts(
                frames=clip.info["frames"],
                overlap_in=clip.info["overlap_in"],
                overlap_out=clip.info["overlap_out"],
                head=clip.files.get(HEAD),
                solo=clip.files.get(SOLO),
                tail=clip.files.get(TAIL),
                identity=clip.recipe,
            )
            for clip in clips
        ]
        report = programme.compose(
            parts,
            spec.transitions(),
            out,
            settings,
            names=[scene.id for scene in spec.scenes],
            segment_cache=cache.folder,
            on_progress=lambda done: context.log.info(f"{spec.name}: composed {done}/{total} frames"),
        )
        if report.frames != total:
            raise dg.Failure(
                f"{spec.root}: composed {report.frames} frames, the project's timeline has {total}; "
                "a scene clip does not have the length project.yaml gives it. Re-materialize its parallax_clip."
            )
        cache.prune(SEGMENT_CACHE_BYTES)
        transitions = Counter(transition.label() for transition in spec.transitions())
        return {
            "scenes": len(clips),
            "frames": report.frames,
            "duration": round(report.frames / settings.fps, 3),
            "width": settings.width,
            "height": settings.height,
            "fps": settings.fps,
            "transitions": ", ".join(f"{count}× {label}" for label, count in sorted(transitions.items())) or "none",
            "frames_encoded": report.frames_encoded,
            "frames_stream_copied": report.frames - report.frames_encoded,
            "seconds": round(time.perf_counter() - started, 3),
            "pieces_reused": report.pieces - report.pieces_encoded,
            "pieces_encoded": report.pieces_encoded,
            "preview": previews.markdown_image(read_frame(out, poster_frame(spec.timeline())), "poster frame"),
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
    """Voiceover, music and effects matched in loudness, placed on the picture's timeline,
    the music ducked under the voice, mastered to the project's loudness target and
    true-peak ceiling: 48 kHz stereo, exactly the picture's length."""
    spec = projects.load(context.partition_key)
    source = recipes.mixed_audio_source(spec)

    def build(folder):
        length, voiceovers, music, effects = mix_inputs(spec)
        result = mixing.render_mix(length, voiceovers, music, effects, spec.audio.mix)
        write_wav(folder / "mix.wav", result.samples)
        for warning in result.warnings:
            context.log.warning(f"{spec.name}: {warning}")
        picture = mix_picture(
            result.buses, result.samples, spec.audio.mix.loudness.lufs, bus_gain_db=result.master.gain_db
        )
        return {
            "duration": round(length / SAMPLE_RATE, 3),
            "sample_rate": SAMPLE_RATE,
            **result.master.report.as_metadata(),
            "target_lufs": spec.audio.mix.loudness.lufs,
            "true_peak_ceiling_dbtp": spec.audio.mix.loudness.true_peak,
            "master_gain_db": round(result.master.gain_db, 2),
            "limiter_reduction_db": round(result.master.limiter_reduction_db, 2),
            "voiceover_tracks": len(voiceovers),
            "music": spec.audio.music.name if spec.audio.music else "none",
            "effects": len(effects),
            "stems": "\n".join(_describe_stem(stem) for stem in result.stems) or "none",
            "warnings": "\n".join(result.warnings) or "none",
            "loudness_over_time": previews.markdown_image(
                picture, "loudness over time: voice, music, effects", max_width=640
            ),
            "waveform": previews.markdown_image(previews.waveform_image(result.samples), "waveform", max_width=640),
        }

    return materialize_artifact(artifacts, "mixed_audio", source, source, build)


def mix_inputs(spec) -> tuple[int, list[mixing.ClipSpec], Path | None, list[mixing.ClipSpec]]:
    """The soundtrack's length in samples and its clips, placed on the picture's timeline:
    each scene's narration at the scene's first frame plus its offset, so transitions
    (overlapping scenes) carry the audio with them."""
    fps = spec.output.fps
    starts = spec.scene_starts()
    voiceovers = [
        mixing.ClipSpec(
            path=scene.voiceover,
            start=starts[scene.id] + scene.voiceover_offset,
            level=scene.voiceover_level,
            label=scene.id,
        )
        for scene in spec.scenes
        if scene.voiceover is not None
    ]
    if spec.audio.voiceover is not None:
        voiceovers.append(
            mixing.ClipSpec(path=spec.audio.voiceover, start=0.0, level=spec.audio.voiceover_level, label="narration")
        )
    effects = [
        mixing.ClipSpec(
            path=effect.file,
            start=effect.at,
            level=effect.gain,
            fade_in=effect.fade_in,
            fade_out=effect.fade_out,
            label=f"effects.{index}",
        )
        for index, effect in enumerate(spec.audio.effects)
    ]
    length = round(spec.total_frames * SAMPLE_RATE / fps)
    return length, voiceovers, spec.audio.music, effects


def _describe_stem(stem: mixing.StemReport) -> str:
    source = f"{stem.source_lufs:.1f} LUFS" if math.isfinite(stem.source_lufs) else "silent"
    level = f"{stem.level_db:+.1f} dB" if math.isfinite(stem.level_db) else "muted"
    return (
        f"{' '.join(filter(None, (stem.kind, stem.label)))} ({stem.file}, {stem.seconds:.2f} s) at {stem.start:.3f} s: "
        f"{source}, matched {stem.match_gain_db:+.1f} dB, level {level}"
    )


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
    """The deliverable: the composed picture with the mixed soundtrack as AAC, one MP4,
    its loudness and true peak measured on the decoded file (mastered again with more
    headroom if the encode pushed the true peak over the ceiling)."""
    spec = projects.load(context.partition_key)
    source = recipes.final_video_source(spec)

    def build(folder):
        made = delivery.produce_final(
            composed_video.path("video.mp4"),
            mixed_audio.path("mix.wav"),
            folder / "final.mp4",
            spec.audio.mix.loudness,
        )
        info = made.info
        return {
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frames": info.frames,
            "duration": round(info.duration, 3),
            "audio_duration": round(info.audio_duration or 0.0, 3),
            "audio_samples": made.audio_samples,
            "audio_samples_expected": made.video_samples,
            # Measured on the AAC decoded back from the finished file, as delivered.
            **made.loudness.as_metadata("delivered_"),
            "true_peak_ceiling_dbtp": spec.audio.mix.loudness.true_peak,
            "audio_encodes": made.attempts,
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
