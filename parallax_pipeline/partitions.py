"""Partitions: one per project, and one per (project, scene position).

Dagster has no mapping from many dynamic partitions to one that it can show in the UI
and evaluate in the daemon, other than a multi-partition's dimension
(`MultiToSingleDimensionPartitionMapping`), and a multi-partition is always the full
cross product of its dimensions. So the scene dimension holds positions, not names:
``001`` is a project's first scene, and there are as many positions as the largest
project has scenes. Keys per scene asset = projects × scenes of the largest project,
which is the real scene count when projects are alike; a position past a smaller
project's last scene is marked *empty* by the projects sensor (a materialization with no
artifact), so a finished project reads as 100 % materialized, not as missing scenes.

Names never reach a key but as the project dimension: project names exclude ``|`` (a
multi-partition key's separator) and ``,`` (which breaks UI backfills), see
`project_file.NAME_PATTERN`.
"""

from __future__ import annotations

import dagster as dg

from parallax_pipeline.project_file import MAX_SCENES

projects = dg.DynamicPartitionsDefinition(name="projects")
scene_positions = dg.DynamicPartitionsDefinition(name="scene_positions")
project_scenes = dg.MultiPartitionsDefinition({"project": projects, "scene": scene_positions})

scenes_of_project = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="project")

EMPTY = "empty"
"""The source fingerprint recorded on a position past its project's last scene."""
# Those marks carry it as their data version too: the data version is the one tag whose
# latest value per partition Dagster's event log answers in a single query.
DATA_VERSION_TAG = "dagster/data_version"


def position_key(index: int) -> str:
    """The scene dimension's key of the scene at ``index`` (0-based) in its project."""
    if not 0 <= index < MAX_SCENES:
        raise ValueError(f"scene position {index + 1} is outside 1..{MAX_SCENES}")
    return f"{index + 1:03d}"


def position_keys(count: int) -> list[str]:
    return [position_key(index) for index in range(count)]


def scene_key(project: str, index: int) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"project": project, "scene": position_key(index)})


def split_scene_key(key: str | dg.MultiPartitionKey) -> tuple[str, int]:
    """(project, 0-based scene index) of a scene partition key."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = project_scenes.get_partition_key_from_str(key)
    return key.keys_by_dimension["project"], int(key.keys_by_dimension["scene"]) - 1
