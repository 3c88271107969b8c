"""The Parallax Studio code location: assets, resources, sensors and schedules."""

import os

from parallax_pipeline import dagster_warnings

dagster_warnings.quiet()  # before the modules that use beta APIs at import time

import dagster as dg  # noqa: E402

from parallax_pipeline import assets, deployment  # noqa: E402
from parallax_pipeline.automation import automation_sensor  # noqa: E402
from parallax_pipeline.engine.depth.model import DEFAULT_MODEL  # noqa: E402
from parallax_pipeline.io_managers import ArtifactIOManager  # noqa: E402
from parallax_pipeline.resources import ArtifactStore, DepthModel, ProjectLibrary, Publisher  # noqa: E402
from parallax_pipeline.sensors import nightly_rescan, projects_sensor  # noqa: E402

DEFINITIONS_TAG = "parallax/definitions"
"""JSON of `build_definitions`' arguments: a metadata entry of the definitions it builds,
and a tag of the runs `parallax run` creates from them (see `run_launcher`)."""


def build_definitions(
    projects: str = "projects",
    storage: str = "storage",
    renders: str = "renders",
    depth_model: str = DEFAULT_MODEL,
    device: str = "auto",
) -> dg.Definitions:
    artifact_store = ArtifactStore(root=storage)
    settings = {"projects": projects, "storage": storage, "renders": renders, "depth_model": depth_model, "device": device}
    return dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        resources={
            "projects": ProjectLibrary(root=projects),
            "artifacts": artifact_store,
            "io_manager": ArtifactIOManager(store=artifact_store),
            "depth_model": DepthModel(model=depth_model, device=device),
            "publisher": Publisher(folder=renders),
        },
        sensors=[projects_sensor, automation_sensor],
        schedules=[nightly_rescan],
        executor=deployment.executor(),
        # A run launched in another process rebuilds these definitions (run_launcher).
        metadata={DEFINITIONS_TAG: dg.MetadataValue.json(settings)},
    )


defs = build_definitions(
    projects=os.getenv("PARALLAX_PROJECTS_DIR", "projects"),
    storage=os.getenv("PARALLAX_STORAGE_DIR", "storage"),
    renders=os.getenv("PARALLAX_RENDERS_DIR", "renders"),
    depth_model=os.getenv("PARALLAX_DEPTH_MODEL", DEFAULT_MODEL),
    device=os.getenv("PARALLAX_DEVICE", "auto"),
)
