"""Content-addressed artifact storage on a local folder (no Dagster: the IO manager and
the `ArtifactStore` resource wrap it).

Layout under the root::

    objects/ab/abcdef….png          every file, named by the SHA-256 of its bytes
    recipes/<asset>/<recipe>.json   what a recipe (hash of all inputs) produced: the cache
    partitions/<asset>/<key>.json   which artifact a partition currently points at
    staging/<asset>-<pid>-…/        files being made; moved into objects/ when complete
    locks/<asset>/<recipe>.lock     held while a recipe is built, so it is built once

A *recipe* is the hash of everything an artifact was made from (input bytes, settings,
code version). It doubles as the Dagster data version, so identical inputs are found in
``recipes/`` and never computed twice, and an unchanged result never looks changed
downstream. Every write is atomic and flushed (`engine.files`).

Nothing read from the store is trusted: every object is checked against its SHA-256
name when it is read (once per process while its size and time are unchanged). What dead
processes left in ``staging/`` is removed by `sweep` (`parallax run`, the nightly re-scan). A
damaged object, or a record that does not parse, is dropped with the records that use
it; `cached` then misses (the artifact is built again) and `load` raises
`DamagedArtifact` naming the asset and partition, so the run fails clearly and the next
run rebuilds the partition from its inputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parallax_pipeline.engine.files import (
    exclusive_lock,
    file_digest,
    matches_digest,
    process_alive,
    sweep_temp_files,
    sync_folder,
    write_atomic,
)

_OBJECT_NAME = re.compile(r"^([0-9a-f]{64})(\.[A-Za-z0-9]+)?$")
_STAGING_NAME = re.compile(r"^.+-(\d+)-[^-]+$")


def cache_bytes() -> int:
    """What the store may keep beyond the artifacts partitions point at (earlier
    versions, kept so an undone edit costs nothing): ``PARALLAX_CACHE_GB``, default 20."""
    return int(float(os.environ.get("PARALLAX_CACHE_GB", "20")) * 1024**3)


class DamagedArtifact(RuntimeError):
    """A stored artifact failed its integrity check; it has been dropped."""


@dataclass(frozen=True)
class Artifact:
    """Files made by one recipe, plus small JSON facts about them (sizes, timings, previews)."""

    recipe: str
    files: Mapping[str, Path]
    info: Mapping[str, Any] = field(default_factory=dict)

    def path(self, role: str) -> Path:
        return self.files[role]


def verify_object(path: Path) -> bool:
    """True when an object's bytes still hash to its name (`files.matches_digest`)."""
    match = _OBJECT_NAME.match(path.name)
    return match is not None and matches_digest(path, match.group(1))


def _record_files(root: Path, record: Path) -> dict[str, Path] | None:
    """The files a record names, by role; None when it is unreadable."""
    try:
        return {role: root / relative for role, relative in json.loads(record.read_text())["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _records(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


class ContentStore:
    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.dropped: list[str] = []
        """What this store object dropped as damaged, in words (for logs)."""

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

    def _read_record(self, path: Path, what: str) -> Artifact | None:
        """The artifact a record names; None when there is none or it was damaged (then
        dropped, and `self.dropped` says what and why)."""
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
            files = {role: self.root / relative for role, relative in record["files"].items()}
            artifact = Artifact(recipe=record["recipe"], files=files, info=record["info"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            self._drop(path, [], f"{what}: its record {path.relative_to(self.root)} is unreadable ({err})")
            return None
        missing = [p for p in files.values() if not p.is_file()]
        if missing:  # an object was removed by hand: treat as never made
            return None
        damaged = [p for p in files.values() if not verify_object(p)]
        if damaged:
            names = ", ".join(str(p.relative_to(self.root)) for p in damaged)
            self._drop(path, damaged, f"{what}: stored object {names} is damaged (its bytes no longer match its SHA-256 name)")
            return None
        return artifact

    def _drop(self, record: Path, objects: list[Path], reason: str) -> None:
        for path in [*objects, record]:
            path.unlink(missing_ok=True)
        self.dropped.append(f"{reason}; dropped, it will be rebuilt from its inputs")

    # --------------------------------------------------------------- recipes (the cache)
    def cached(self, asset: str, recipe: str) -> Artifact | None:
        return self._read_record(self._record_path("recipes", asset, recipe), f"{asset} (recipe {recipe})")

    def get_or_build(
        self, asset: str, recipe: str, build: Callable[[Path], Mapping[str, Any]]
    ) -> tuple[Artifact, bool]:
        """The artifact of ``recipe``: from the cache, or built by ``build`` (see `put`).
        Returns it and whether it came from the cache. Two processes asking for the same
        recipe at once build it once: the second waits for the first and reuses its result."""
        artifact = self.cached(asset, recipe)
        if artifact is not None:
            return artifact, True
        with self._building(asset, recipe):
            artifact = self.cached(asset, recipe)  # made while this process waited
            if artifact is not None:
                return artifact, True
            return self.put(asset, recipe, build), False

    def _building(self, asset: str, recipe: str):
        return exclusive_lock(self.root / "locks" / asset / f"{recipe}.lock")

    def put(self, asset: str, recipe: str, build: Callable[[Path], Mapping[str, Any]]) -> Artifact:
        """Run `build(folder)`, which writes files into an empty folder and returns facts;
        keep every file it wrote as an object and remember them under `recipe`."""
        staging = self.root / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=staging, prefix=f"{asset}-{os.getpid()}-"))
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
        if target.exists() and verify_object(target):
            made.unlink()
        else:  # new, or a damaged copy to replace
            with open(made, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(made, target)  # same filesystem: an atomic rename
            sync_folder(target.parent)
        return target

    def sweep(self) -> list[Path]:
        """Remove what dead processes left in ``staging/`` (their folders and temp files);
        files of processes still alive are kept. Returns what was removed."""
        staging = self.root / "staging"
        removed = []
        if staging.is_dir():
            for entry in staging.iterdir():
                match = _STAGING_NAME.match(entry.name)
                if entry.is_dir() and match and not process_alive(int(match.group(1))):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
        segments = self.root / "segments"
        for folder in [segments, *(sorted(p for p in segments.iterdir() if p.is_dir()) if segments.is_dir() else [])]:
            removed += sweep_temp_files(folder)
        return removed

    def verify(self, repair: bool = False) -> list[str]:
        """Check every record and every object it names against its SHA-256 name; return
        the problems in words (asset, partition or recipe, file). With ``repair`` the
        damaged objects and the records naming them are dropped, so the next run rebuilds
        those artifacts from their inputs."""
        problems = []
        for kind in ("partitions", "recipes"):
            folder = self.root / kind
            for record in _records(folder):
                asset, *rest = record.relative_to(folder).with_suffix("").parts
                what = f"{asset} [{'|'.join(rest)}]" if kind == "partitions" else f"{asset} (recipe {rest[-1]})"
                files = _record_files(self.root, record)
                if files is None:
                    problems.append(f"{what}: record {record.relative_to(self.root)} is unreadable")
                    if repair:
                        record.unlink(missing_ok=True)
                    continue
                bad = [p for p in files.values() if p.is_file() and not verify_object(p)]
                gone = [p for p in files.values() if not p.is_file()]
                for path in bad:
                    problems.append(f"{what}: {path.relative_to(self.root)} is damaged (its bytes no longer match its name)")
                for path in gone:
                    problems.append(f"{what}: {path.relative_to(self.root)} is missing")
                if repair and (bad or gone):
                    for path in [*bad, record]:
                        path.unlink(missing_ok=True)
        return problems

    def prune(self, max_bytes: int) -> list[Path]:
        """Keep what partitions point at; of the objects only the cache (``recipes/``)
        remembers, delete the least recently made until they take at most ``max_bytes``,
        with the recipe records that name them (those recipes are built again if asked
        for). Returns the objects deleted. Bounds the store: every edit leaves the old
        artifacts behind as cache, and a scene's lossless transition frames are large."""
        pointed = set()
        for record in _records(self.root / "partitions"):
            pointed |= set((_record_files(self.root, record) or {}).values())
        cached = []
        for path in (self.root / "objects").glob("*/*") if (self.root / "objects").is_dir() else []:
            if path not in pointed and _OBJECT_NAME.match(path.name):
                stat = path.stat()
                cached.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in cached)
        deleted = []
        for _, size, path in sorted(cached):
            if total <= max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            deleted.append(path)
        if deleted:
            gone = set(deleted)
            for record in _records(self.root / "recipes"):
                if set((_record_files(self.root, record) or {}).values()) & gone:
                    record.unlink(missing_ok=True)
        return deleted

    # --------------------------------------------------------------- partitions
    def point(self, asset: str, partition: str, artifact: Artifact) -> None:
        self._write_record(self._record_path("partitions", asset, _partition_path(partition)), artifact)

    def forget(self, asset: str, partition: str) -> None:
        """The partition holds no artifact any more (a scene position left empty): its
        pointer goes, so `prune` may reclaim what only it kept."""
        self._record_path("partitions", asset, _partition_path(partition)).unlink(missing_ok=True)

    def forget_project(self, project: str) -> None:
        """A deleted project's partitions hold nothing any more (see `forget`)."""
        _partition_path(project)  # refuses a name that could leave the store
        for folder in (self.root / "partitions").glob("*") if (self.root / "partitions").is_dir() else []:
            (folder / f"{project}.json").unlink(missing_ok=True)
            if (folder / project).is_dir():
                shutil.rmtree(folder / project)

    def load(self, asset: str, partition: str) -> Artifact | None:
        """The artifact a partition points at; None when it has none. Raises
        `DamagedArtifact` (naming the asset and partition) when its files are damaged."""
        what = f"{asset} [{partition}]"
        before = len(self.dropped)
        artifact = self._read_record(self._record_path("partitions", asset, _partition_path(partition)), what)
        if artifact is None and len(self.dropped) > before:
            raise DamagedArtifact(self.dropped[-1])
        return artifact

    def has(self, asset: str, partition: str) -> bool:
        """Whether a partition points at an artifact whose files are all there (cheap: no
        hashing; damage is found when the files are read)."""
        files = _record_files(self.root, self._record_path("partitions", asset, _partition_path(partition)))
        return files is not None and all(path.is_file() for path in files.values())


def _partition_path(partition: str) -> str:
    # Multi-partition keys join dimensions with '|': one folder level per dimension.
    parts = partition.split("|")
    if any(not part or part in (".", "..") or "/" in part or "\\" in part for part in parts):
        raise ValueError(f"unsafe partition key {partition!r}")
    return "/".join(parts)
