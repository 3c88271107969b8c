"""Is a project's final video up to date, and if not, what is stale and why.

Each materialization records its *source fingerprint* (what it is made of on disk) and
its *recipe* (its fingerprint plus the recipes it was made from; see `recipes`). A
partition is current when its recorded fingerprint equals the one the files give now,
its recipe is the one its current inputs give, and its files are in the store. Walking
that from the scenes to the final video tells `parallax run` whether the published
video matches the inputs, and in words what does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from parallax_pipeline import partitions, recipes
from parallax_pipeline.recipes import SOURCE_FINGERPRINT
from parallax_pipeline.spec import ProjectSpec
from parallax_pipeline.store import ContentStore


@dataclass(frozen=True)
class Recorded:
    source: str | None
    recipe: str | None
    storage_id: int


def recorded(instance: dg.DagsterInstance, asset: str, partition: str) -> Recorded | None:
    """What the latest materialization of an asset partition recorded; None if none."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    )
    if not result.records:
        return None
    record = result.records[0]
    metadata = record.asset_materialization.metadata

    def text(name: str) -> str | None:
        value = metadata.get(name)
        return value.value if value is not None else None

    return Recorded(text(SOURCE_FINGERPRINT), text("recipe"), record.storage_id)


class _Walk:
    def __init__(self, instance: dg.DagsterInstance, store: ContentStore):
        self.instance, self.store = instance, store
        self.reasons: list[str] = []

    def check(self, asset: str, partition: str, source: str, expected_recipe=None, scene: str = "") -> str | None:
        """The partition's recorded recipe, noting why it is stale when it is."""
        found = recorded(self.instance, asset, partition)
        where = f"{asset} [{partition}]" + (f" (scene {scene!r})" if scene else "")
        if found is None:
            self.reasons.append(f"{where}: not made yet")
            return None
        if found.source != source:
            self.reasons.append(f"{where}: its inputs changed since it was made")
        elif expected_recipe is not None and found.recipe != expected_recipe:
            self.reasons.append(f"{where}: made from an earlier version of its upstream artifacts")
        elif not self.store.has(asset, partition):
            self.reasons.append(f"{where}: its stored files are missing (removed, or dropped as damaged)")
        return found.recipe


def stale_reasons(spec: ProjectSpec, instance: dg.DagsterInstance, store: ContentStore, depth_model: str) -> list[str]:
    """Why the project's final video does not match its inputs; empty when it does."""
    walk = _Walk(instance, store)
    clip_recipes = []
    for index, scene in enumerate(spec.scenes):
        key = str(partitions.scene_key(spec.name, index))
        depth = walk.check("depth_map", key, recipes.depth_map_source(scene, depth_model), scene=scene.id)
        clip_source = recipes.parallax_clip_source(spec, scene)
        clip_recipes.append(
            walk.check(
                "parallax_clip", key, clip_source, recipes.combine(clip_source, depth) if depth else None, scene=scene.id
            )
        )
    composed_source = recipes.composed_video_source(spec)
    composed = walk.check(
        "composed_video",
        spec.name,
        composed_source,
        recipes.combine(composed_source, *clip_recipes) if all(clip_recipes) else None,
    )
    mixed_source = recipes.mixed_audio_source(spec)
    mixed = walk.check("mixed_audio", spec.name, mixed_source, mixed_source)
    final_source = recipes.final_video_source(spec)
    walk.check(
        "final_video",
        spec.name,
        final_source,
        recipes.combine(final_source, composed, mixed) if composed and mixed else None,
    )
    return walk.reasons
