"""Shared fixtures: a copied demo project, a real SQLite Dagster instance, definitions on them."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from parallax_pipeline.definitions import build_definitions

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "projects" / "demo"


@dataclass
class Studio:
    """A projects folder, artifact store and Dagster instance under one temp folder."""

    root: Path
    instance: dg.DagsterInstance
    depth_model: str = "depth-anything/Depth-Anything-V2-Small-hf"

    @property
    def projects(self) -> Path:
        return self.root / "projects"

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    def defs(self) -> dg.Definitions:
        return build_definitions(
            projects=str(self.projects),
            storage=str(self.root / "storage"),
            renders=str(self.renders),
            depth_model=self.depth_model,
            device="cpu",
        )

    def add_demo(self, name: str = "demo") -> Path:
        target = self.projects / name
        shutil.copytree(DEMO, target)
        return target

    def mark(self) -> int:
        records = self.instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION), limit=1, ascending=False
        )
        return records[0].storage_id if records else 0

    def materialized_since(self, mark: int) -> Counter:
        """(asset, partition) -> count, read from the instance's event log."""
        records = self.instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=mark),
            limit=10_000,
        )
        return Counter(
            (record.asset_key.to_user_string(), record.partition_key) for record in records
        )


@pytest.fixture
def studio(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        (tmp_path / "projects").mkdir()
        yield Studio(root=tmp_path, instance=instance)


def write_small_project(folder: Path, scene_ids: list[str], extra_yaml: str = "") -> Path:
    """A project with no scene list: scenes come from images/ by convention. Images,
    depth maps and a voiceover are borrowed from the demo; output is tiny so runs are quick."""
    demo_scenes = sorted((DEMO / "images").glob("*"))
    (folder / "images").mkdir(parents=True)
    (folder / "depth").mkdir()
    (folder / "audio").mkdir()
    for index, scene_id in enumerate(scene_ids):
        add_scene(folder, scene_id, demo_scenes[index % len(demo_scenes)].stem)
    shutil.copyfile(next((DEMO / "audio").glob("music.*")), folder / "audio" / "music.mp3")
    (folder / "project.yaml").write_text(
        "output: {resolution: [320, 180], fps: 24, quality: draft}\ndefaults: {duration: 1.0}\n" + extra_yaml
    )
    return folder


def add_scene(folder: Path, scene_id: str, demo_scene: str) -> None:
    image = next((DEMO / "images").glob(f"{demo_scene}.*"))
    shutil.copyfile(image, folder / "images" / f"{scene_id}{image.suffix}")
    shutil.copyfile(DEMO / "depth" / f"{demo_scene}.png", folder / "depth" / f"{scene_id}.png")
