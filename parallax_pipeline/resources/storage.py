"""Where artifacts and published videos live."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from parallax_pipeline.engine.files import copy_atomic
from parallax_pipeline.store import ContentStore


class ArtifactStore(dg.ConfigurableResource):
    """The content-addressed store every artifact is written to: a local folder, or an S3
    bucket (``s3://bucket/prefix``; endpoint and credentials from the standard AWS
    variables, local copies cached by hash, see `store_backends`)."""

    root: str = "storage"
    """Folder of the store (relative paths are taken from the working directory), or
    ``s3://bucket/prefix``."""

    def open(self) -> ContentStore:
        return ContentStore(self.root)


class Publisher(dg.ConfigurableResource):
    """Copies finished videos to a stable, human-friendly place: ``<folder>/<project>.mp4``."""

    folder: str = "renders"

    def publish(self, source: Path, name: str) -> Path:
        return copy_atomic(source, Path(self.folder).resolve() / name)
