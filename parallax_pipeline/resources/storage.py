"""Where artifacts and published videos live."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg

from parallax_pipeline.io_managers.content_store import ContentStore


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
        target = Path(self.folder).resolve() / name
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(handle)
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target
