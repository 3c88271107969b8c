"""Partitions: one per project, and one per (project, scene)."""

from __future__ import annotations

import dagster as dg

projects = dg.DynamicPartitionsDefinition(name="projects")
scenes = dg.DynamicPartitionsDefinition(name="scenes")
# The full project × scene cross product: keys naming a scene the project lacks exist
# and stay missing, so they are never requested and fan-in skips them.
project_scenes = dg.MultiPartitionsDefinition({"project": projects, "scene": scenes})

scenes_of_project = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="project")


def scene_key(project: str, scene: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"project": project, "scene": scene})


def split_scene_key(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    if not isinstance(key, dg.MultiPartitionKey):
        key = project_scenes.get_partition_key_from_str(key)
    return key.keys_by_dimension["project"], key.keys_by_dimension["scene"]
