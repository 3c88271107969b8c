"""Shared fixtures: a copied demo project, a real Dagster instance (SQLite, or PostgreSQL on
a server the session starts), definitions on them."""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from parallax_pipeline import dagster_warnings
from parallax_pipeline.definitions import build_definitions
from parallax_pipeline.instance_settings import instance_settings
from tests.postgres_server import PostgresServer, start_postgres, write_postgres_home
from tests.s3_server import S3Server, start_s3

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "projects" / "demo"


@dataclass
class Studio:
    """A projects folder, artifact store and Dagster instance under one temp folder."""

    root: Path
    instance: dg.DagsterInstance
    depth_model: str = "depth-anything/Depth-Anything-V2-Small-hf"
    storage: str | None = None
    """The artifact store: a folder (default ``root/storage``) or ``s3://bucket/prefix``."""
    postgres: PostgresServer | None = None
    database: str | None = None
    """The PostgreSQL server and database holding the instance; None on SQLite."""

    @property
    def projects(self) -> Path:
        return self.root / "projects"

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    def defs(self) -> dg.Definitions:
        return build_definitions(
            projects=str(self.projects),
            storage=self.storage or str(self.root / "storage"),
            renders=str(self.renders),
            depth_model=self.depth_model,
            device="cpu",
        )

    def add_demo(self, name: str = "demo") -> Path:
        target = self.projects / name
        shutil.copytree(DEMO, target)
        return target

    def _materializations(self, **kwargs) -> list:
        records = []
        for key in self.instance.get_asset_keys():
            records += self.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, **kwargs), limit=10_000).records
        return records

    def mark(self) -> int:
        return max((record.storage_id for record in self._materializations()), default=0)

    def materialized_since(self, mark: int) -> Counter:
        """(asset, partition) -> count, read from the instance's event log."""
        return Counter(
            (record.asset_key.to_user_string(), record.partition_key)
            for record in self._materializations(after_storage_id=mark)
        )


    def built_since(self, mark: int) -> set[tuple[str, str | None]]:
        """(asset, partition) of the materializations since ``mark`` that built their
        artifact (not reused from the content cache, nor marked empty)."""
        built = set()
        for record in self._materializations(after_storage_id=mark):
            cache = record.asset_materialization.metadata.get("cache")
            if cache is not None and cache.value.startswith("miss"):
                built.add((record.asset_key.to_user_string(), record.partition_key))
        return built


def pytest_configure(config):
    for line in dagster_warnings.pytest_filters():
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """One real PostgreSQL server for the session; each test takes a fresh database."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    """One real S3-protocol server (moto) on loopback for the session."""
    server = start_s3()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path) -> S3Server:
    """The standard AWS variables pointed at the session's S3 server, and this test's
    own local cache of the bucket's objects."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PARALLAX_CACHE_DIR", str(tmp_path / "s3-cache"))
    return s3_server


def postgres_database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def studio(request, tmp_path):
    """A studio on SQLite; ``@pytest.mark.parametrize("studio", ["sqlite", "postgres"],
    indirect=True)`` runs a test on both instances."""
    kind = getattr(request, "param", "sqlite")
    home = tmp_path / "dagster_home"
    (tmp_path / "projects").mkdir()
    if kind == "postgres":
        server, database = request.getfixturevalue("postgres"), postgres_database_name()
        write_postgres_home(home, server, database)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield Studio(root=tmp_path, instance=instance, postgres=server, database=database)
        return
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=instance_settings()) as instance:
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


@dg.op
def _idle_op():
    return None


@dg.job(name="idle")
def _idle_job():
    _idle_op()


def started_run(instance: dg.DagsterInstance, tags: dict[str, str] | None = None) -> str:
    """A run of a do-nothing job that the instance holds as STARTED (as a render in
    progress), for tests of pools and recovery."""
    run = instance.create_run_for_job(_idle_job, tags=tags or {})
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name="idle", message="started"),
    )
    return run.run_id
