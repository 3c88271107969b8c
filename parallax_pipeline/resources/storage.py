"""Where artifacts and published videos live."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from parallax_pipeline.engine.files import copy_atomic
from parallax_pipeline.store import ContentStore


class ArtifactStore(dg.ConfigurableResource):
    """The content-addressed store every artifact is written to (a local folder)."""

    root: str = "storage"
    """Folder of the store; relative paths are taken from the working directory."""

    def open(self) -> ContentStore:
        return ContentStore(self.root)


class Publisher(dg.ConfigurableResource):
    """Copies finished videos to a stable, human-friendly place: ``<folder>/<project>.mp4``."""

    folder: str = "renders"

    def publish(self, source: Path, name: str) -> Path:
        return copy_atomic(source, Path(self.folder).resolve() / name)
