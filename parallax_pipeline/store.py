"""Content-addressed artifact storage on a local folder (no Dagster: the IO manager and
the `ArtifactStore` resource wrap it).

Layout under the root::

    objects/ab/abcdef….png          every file, named by the SHA-256 of its bytes
    recipes/<asset>/<recipe>.json   what a recipe (hash of all inputs) produced: the cache
    partitions/<asset>/<key>.json   which artifact a partition currently points at
    staging/                        files being made; moved into objects/ when complete

A *recipe* is the hash of everything an artifact was made from (input bytes, settings,
code version). It doubles as the Dagster data version, so identical inputs are found in
``recipes/`` and never computed twice, and an unchanged result never looks changed
downstream. Every write is atomic (`engine.files`): a temp file in the same folder, then a rename.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parallax_pipeline.engine.files import file_digest, write_atomic


@dataclass(frozen=True)
class Artifact:
    """Files made by one recipe, plus small JSON facts about them (sizes, timings, previews)."""

    recipe: str
    files: Mapping[str, Path]
    info: Mapping[str, Any] = field(default_factory=dict)

    def path(self, role: str) -> Path:
        return self.files[role]


class ContentStore:
    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    # --------------------------------------------------------------- records
    def _record_path(self, kind: str, asset: str, name: str) -> Path:
        return self.root / kind / asset / f"{name}.json"

    def _write_record(self, path: Path, artifact: Artifact) -> None:
        record = {
            "recipe": artifact.recipe,
            "files": {role: str(p.relative_to(self.root)) for role, p in artifact.files.items()},
            "info": dict(artifact.info),
        }
        write_atomic(path, json.dumps(record, indent=1, sort_keys=True).encode())

    def _read_record(self, path: Path) -> Artifact | None:
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        files = {role: self.root / relative for role, relative in record["files"].items()}
        if not all(p.is_file() for p in files.values()):
            return None  # an object was removed by hand: treat as never made
        return Artifact(recipe=record["recipe"], files=files, info=record["info"])

    # --------------------------------------------------------------- recipes (the cache)
    def cached(self, asset: str, recipe: str) -> Artifact | None:
        return self._read_record(self._record_path("recipes", asset, recipe))

    def put(self, asset: str, recipe: str, build: Callable[[Path], Mapping[str, Any]]) -> Artifact:
        """Run `build(folder)`, which writes files into an empty folder and returns facts;
        keep every file it wrote as an object and remember them under `recipe`."""
        staging = self.root / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=staging, prefix=f"{asset}-"))
        try:
            info = build(folder)
            files = {}
            for made in sorted(folder.iterdir()):
                files[made.name] = self._ingest(made)
            artifact = Artifact(recipe=recipe, files=files, info=dict(info or {}))
            self._write_record(self._record_path("recipes", asset, recipe), artifact)
            return artifact
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _ingest(self, made: Path) -> Path:
        digest = file_digest(made)
        target = self.root / "objects" / digest[:2] / f"{digest}{made.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            made.unlink()
        else:
            os.replace(made, target)  # same filesystem: an atomic rename
        return target

    # --------------------------------------------------------------- partitions
    def point(self, asset: str, partition: str, artifact: Artifact) -> None:
        self._write_record(self._record_path("partitions", asset, _partition_path(partition)), artifact)

    def load(self, asset: str, partition: str) -> Artifact | None:
        return self._read_record(self._record_path("partitions", asset, _partition_path(partition)))


def _partition_path(partition: str) -> str:
    # Multi-partition keys join dimensions with '|': one folder level per dimension.
    parts = partition.split("|")
    if any(not part or part in (".", "..") or "/" in part or "\\" in part for part in parts):
        raise ValueError(f"unsafe partition key {partition!r}")
    return "/".join(parts)
