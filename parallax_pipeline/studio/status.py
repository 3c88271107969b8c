"""A project's state as users see it, read from the instance and the store.

Per scene: whether its ``depth_map`` and ``parallax_clip`` were made from the scene as it
is now (the source fingerprint each materialization records, and the stored files), and
the error of its failed run. Per project asset the same. The project is ``done`` when
its final video matches its inputs (`freshness.stale_reasons`, what `parallax run`
checks); otherwise the worker's phase says ``queued`` or ``rendering``, and a project
a finished settle left stale is ``failed``, with the reasons.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from parallax_pipeline import partitions, recipes
from parallax_pipeline.freshness import recorded, stale_reasons
from parallax_pipeline.spec import ProjectSpec
from parallax_pipeline.store import ContentStore

PROJECT_ASSETS = ("composed_video", "mixed_audio", "final_video")


def _asset_state(instance, store, asset: str, partition: str, source: str, phase: str, errors: dict[str, str]) -> dict:
    found = recorded(instance, asset, partition)
    if found is not None and found.source == source and store.has(asset, partition):
        return {"state": "done"}
    error = errors.get(asset)
    if error is not None and phase == "settled":
        return {"state": "failed", "error": error}
    return {"state": {"settled": "failed", "rendering": "rendering"}.get(phase, "queued")}


def project_status(
    spec: ProjectSpec, instance: dg.DagsterInstance, store: ContentStore, depth_model: str, phase: str,
    failures: list[tuple[str, str, str]],
) -> dict[str, Any]:
    # Staleness first: what is done stays done, so the per-asset states read after it
    # never lag behind a project reported done while a settle ends meanwhile.
    reasons = stale_reasons(spec, instance, store, depth_model)
    errors: dict[str, dict[str, str]] = {}
    for assets, partition, error in failures:
        for asset in assets.split(", "):
            errors.setdefault(partition, {})[asset] = error
    scenes, frames_done, frames_total, steps_done = [], 0, 0, 0
    for index, scene in enumerate(spec.scenes):
        key = str(partitions.scene_key(spec.name, index))
        depth = _asset_state(instance, store, "depth_map", key, recipes.depth_map_source(scene, depth_model), phase, errors.get(key, {}))
        clip = _asset_state(instance, store, "parallax_clip", key, recipes.parallax_clip_source(spec, scene), phase, errors.get(key, {}))
        frames = spec.scene_frames(scene)
        frames_total += frames
        frames_done += frames if clip["state"] == "done" else 0
        steps_done += (depth["state"] == "done") + (clip["state"] == "done")
        scenes.append({"id": scene.id, "position": index + 1, "frames": frames, "depth_map": depth, "parallax_clip": clip})
    sources = {
        "composed_video": recipes.composed_video_source(spec),
        "mixed_audio": recipes.mixed_audio_source(spec),
        "final_video": recipes.final_video_source(spec),
    }
    assets = {
        asset: _asset_state(instance, store, asset, spec.name, sources[asset], phase, errors.get(spec.name, {}))
        for asset in PROJECT_ASSETS
    }
    steps_done += sum(state["state"] == "done" for state in assets.values())
    if not reasons:
        state = "done"
    else:
        state = {"settled": "failed"}.get(phase, phase)
    result: dict[str, Any] = {
        "id": spec.name,
        "title": spec.title,
        "state": state,
        "scenes": scenes,
        "assets": assets,
        "progress": {
            "frames_done": frames_done,
            "frames_total": frames_total,
            "steps_done": steps_done,
            "steps_total": 2 * len(spec.scenes) + len(PROJECT_ASSETS),
        },
        "output": {"width": spec.output.size[0], "height": spec.output.size[1], "fps": spec.output.fps,
                   "frames": spec.total_frames},
        "warnings": list(spec.warnings),
    }
    if state == "failed":
        result["errors"] = [f"{assets} [{partition}]: {error}" for assets, partition, error in failures] or reasons
    return result
