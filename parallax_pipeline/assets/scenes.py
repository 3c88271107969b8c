"""Scene assets: one depth map and one parallax clip per (project, scene position)."""
import time

import dagster as dg
import numpy as np

from parallax_pipeline import deployment, partitions, recipes
from parallax_pipeline.assets.materialize import materialize_artifact
from parallax_pipeline.engine import previews
from parallax_pipeline.engine.depth.maps import depth_preview, supplied_disparity, write_depth_png
from parallax_pipeline.engine.parallax import clip, images
from parallax_pipeline.engine.video.parts import SceneParts
from parallax_pipeline.resources import ArtifactStore, DepthModel, ProjectLibrary
from parallax_pipeline.store import Artifact


@dg.asset(
    partitions_def=partitions.project_scenes,
    code_version=recipes.CODE_VERSIONS["depth_map"],
    pool="gpu",
    op_tags=deployment.gpu_step_tags(),  # on Kubernetes: a GPU node and an nvidia.com/gpu limit
    group_name="scenes",
    kinds={"pytorch", "png"},
)
def depth_map(
    context: dg.AssetExecutionContext, projects: ProjectLibrary, depth_model: DepthModel, artifacts: ArtifactStore
) -> dg.Output[Artifact]:
    """Disparity (1 = nearest) at the image's size: the project's own depth map when it
    ships one, else Depth Anything V2. Stored as a 16-bit PNG and a float32 array."""
    project, index = partitions.split_scene_key(context.partition_key)
    scene = projects.load(project).scene_at(index)
    source = recipes.depth_map_source(scene, depth_model.model)

    def build(folder):
        started = time.perf_counter()
        image = images.load_image(scene.image)
        height, width = image.shape[:2]
        if scene.depth is not None:
            disparity, origin = supplied_disparity(scene.depth, image), "supplied"
            model = device = None
        else:
            estimator = depth_model.estimator()
            disparity, origin = estimator.predict([image])[0], "estimated"
            model, device = estimator.model_id, estimator.device
        write_depth_png(folder / "depth.png", disparity)
        np.save(folder / "depth.npy", disparity.astype(np.float32))
        return {
            "origin": origin,
            "model": model,
            "device": device,
            "width": width,
            "height": height,
            "seconds": round(time.perf_counter() - started, 3),
            "preview": previews.markdown_image(depth_preview(disparity), "depth preview"),
        }

    return materialize_artifact(artifacts, "depth_map", source, source, build, about=_about(scene))


@dg.asset(
    partitions_def=partitions.project_scenes,
    code_version=recipes.CODE_VERSIONS["parallax_clip"],
    group_name="scenes",
    kinds={"opencv", "mp4"},
)
def parallax_clip(
    context: dg.AssetExecutionContext,
    projects: ProjectLibrary,
    artifacts: ArtifactStore,
    depth_model: DepthModel,
    depth_map: Artifact,
) -> dg.Output[Artifact]:
    """The camera's move through the scene, rendered with the depth map, in the parts the
    composition uses: the frames the scene shows alone as an H.264 segment (solo.mp4), the
    ones its transitions blend with a neighbour kept lossless (head.npy, tail.npy)."""
    project, index = partitions.split_scene_key(context.partition_key)
    spec = projects.load(project)
    scene = spec.scene_at(index)
    source = recipes.parallax_clip_source(spec, scene)
    width, height = spec.output.size
    place = recipes.placement(spec, scene)
    frames = place.frames
    if depth_map.recipe != recipes.depth_map_source(scene, depth_model.model):
        # A partition is a scene position: after a reorder it may hold another scene's map.
        raise dg.Failure(
            f"{spec.root}: the depth map at [{context.partition_key}] was not made from scene {scene.id!r} "
            "as it is now; materialize depth_map for this partition first."
        )

    def build(folder):
        started = time.perf_counter()
        image = images.load_image(scene.image)
        disparity = np.load(depth_map.path("depth.npy"))
        settings = spec.output.video_settings()

        def progress(done: int, total: int) -> None:
            if done % 30 == 0 or done == total:
                context.log.info(f"{project}/{scene.id}: frame {done}/{total}")

        parts = SceneParts.in_folder(folder, frames, place.overlap_in, place.overlap_out)
        # the middle frame is the poster: the move is under way
        report = clip.render_scene(image, disparity, scene.motion, parts, settings, fit=spec.output.fit, on_progress=progress)
        written = report.frames
        seconds = time.perf_counter() - started
        return {
            "width": width,
            "height": height,
            "fps": spec.output.fps,
            "frames": written,
            "overlap_in": place.overlap_in,
            "overlap_out": place.overlap_out,
            "frames_encoded": parts.solo_frames,
            "duration": round(written / spec.output.fps, 3),
            "motion": scene.motion.preset,
            "layers": report.layers,
            "prepare_seconds": round(report.prepare_seconds, 3),
            "seconds": round(seconds, 3),
            "render_fps": round(written / max(seconds, 1e-6), 1),
            "preview": previews.markdown_image(report.poster, "poster frame"),
        }

    recipe = recipes.combine(source, depth_map.recipe)
    return materialize_artifact(artifacts, "parallax_clip", source, recipe, build, about=_about(scene))


def _about(scene) -> dict[str, str]:
    return {"scene": scene.id, "image": str(scene.image)}
