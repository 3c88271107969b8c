"""Content-addressed artifact storage (no Dagster: the IO manager and the `ArtifactStore`
resource wrap it), in a local folder or an S3 bucket (`store_backends`).

Layout under the store (a folder, or ``s3://bucket/prefix``)::

    objects/ab/abcdef….png          every file, named by the SHA-256 of its bytes
    recipes/<asset>/<recipe>.json   what a recipe (hash of all inputs) produced: the cache
    partitions/<asset>/<key>.json   which artifact a partition currently points at

and in the local folder (for a bucket: this machine's cache, where objects are also
kept by hash once fetched)::

    staging/<asset>-<pid>-…/        files being made; moved into objects/ when complete
    locks/<asset>/<recipe>.lock     held while a recipe is built, so it is built once
    segments/                       transition segments of `composed_video` (a cache)

A *recipe* is the hash of everything an artifact was made from (input bytes, settings,
code version). It doubles as the Dagster data version, so identical inputs are found in
``recipes/`` and never computed twice, and an unchanged result never looks changed
downstream. Every write is atomic (a flushed rename on disk, one PUT in a bucket), and a
record is written only after the objects it names.

Nothing read from the store is trusted: every object is checked against its SHA-256
name when it is read (once per process while its size and time are unchanged). What dead
processes left in ``staging/`` is removed by `sweep` (`parallax run`, the nightly re-scan). A
damaged object, or a record that does not parse, is dropped with the records that use
it; `cached` then misses (the artifact is built again) and `load` raises
`DamagedArtifact` naming the asset and partition, so the run fails clearly and the next
run rebuilds the partition from its inputs. The per-recipe lock holds on one machine;
machines sharing a bucket may build the same recipe at once, and its objects are
still stored once (conditional PUT by content hash).
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

from parallax_pipeline.engine.files import exclusive_lock, file_digest, process_alive, remember_digest, sweep_temp_files
from parallax_pipeline.store_backends import DAMAGED, MISSING, StoreError, open_backend, verify_object

__all__ = ["Artifact", "ContentStore", "DamagedArtifact", "StoreError", "cache_bytes", "verify_object"]

_STAGING_NAME = re.compile(r"^.+-(\d+)-[^-]+$")


def cache_bytes() -> int:
    """What the store may keep beyond the artifacts partitions point at (earlier
    versions, kept so an undone edit costs nothing): ``PARALLAX_CACHE_GB``, default 20.
    A bucket's local copies on each machine are bounded by it too."""
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


def _parse_record(data: bytes) -> dict[str, Any]:
    record = json.loads(data)
    if not isinstance(record["files"], dict) or not all(isinstance(v, str) for v in record["files"].values()):
        raise TypeError("'files' is not a mapping of roles to object names")
    return record


def _record_key(kind: str, asset: str, name: str) -> str:
    return f"{kind}/{asset}/{name}.json"


class ContentStore:
    def __init__(self, location: Path | str, cache: Path | str | None = None):
        """``location``: a folder, or ``s3://bucket/prefix`` (then ``cache`` is this
        machine's folder for local copies, staging and locks; see `store_backends`)."""
        self.backend = open_backend(location, cache)
        self.root = self.backend.root
        """The local folder: the store itself, or a bucket's local cache."""
        self.url = self.backend.url
        self.dropped: list[str] = []
        """What this store object dropped as damaged, in words (for logs)."""

    # --------------------------------------------------------------- records

    @property
    def run_lock(self) -> Path:
        """The lock of whole settles on this store (`parallax run`, `parallax serve`'s
        worker): in its local folder, for a bucket this machine's cache."""
        return self.root / "locks" / "parallax-run.lock"
    def _files(self, key: str) -> dict[str, str] | None:
        """The object keys a record names, by role; None when it is absent or unreadable."""
        try:
            data = self.backend.read(key)
            return None if data is None else dict(_parse_record(data)["files"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _write_record(self, key: str, artifact: Artifact) -> None:
        record = {
            "recipe": artifact.recipe,
            "files": {role: p.relative_to(self.root).as_posix() for role, p in artifact.files.items()},
            "info": dict(artifact.info),
        }
        self.backend.write(key, json.dumps(record, indent=1, sort_keys=True).encode())

    def _read_record(self, key: str, what: str) -> Artifact | None:
        """The artifact a record names, its objects fetched to local copies and checked;
        None when there is none or it was damaged (then dropped, and `self.dropped` says
        what and why)."""
        data = self.backend.read(key)
        if data is None:
            return None
        try:
            record = _parse_record(data)
            artifact = Artifact(
                recipe=record["recipe"],
                files={role: self.root / relative for role, relative in record["files"].items()},
                info=record["info"],
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            self._drop(key, [], f"{what}: its record {key} is unreadable ({err})")
            return None
        objects = list(record["files"].values())
        if not all(self.backend.exists(name) for name in objects):
            return None  # an object was removed by hand: treat as never made
        states = {name: self.backend.fetch(name) for name in objects}
        if MISSING in states.values():
            return None
        damaged = [name for name, state in states.items() if state == DAMAGED]
        if damaged:
            names = ", ".join(damaged)
            self._drop(key, damaged, f"{what}: stored object {names} is damaged (its bytes no longer match its SHA-256 name)")
            return None
        return artifact

    def _drop(self, record: str, objects: list[str], reason: str) -> None:
        for name in objects:
            self.backend.remove(name)
        self.backend.delete(record)
        self.dropped.append(f"{reason}; dropped, it will be rebuilt from its inputs")

    # --------------------------------------------------------------- recipes (the cache)
    def cached(self, asset: str, recipe: str) -> Artifact | None:
        return self._read_record(_record_key("recipes", asset, recipe), f"{asset} (recipe {recipe})")

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
        keep every file it wrote as an object and remember them under `recipe` (the
        record after the objects)."""
        staging = self.root / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=staging, prefix=f"{asset}-{os.getpid()}-"))
        try:
            info = build(folder)
            files = {}
            for made in sorted(folder.iterdir()):
                files[made.name] = self._ingest(made)
            artifact = Artifact(recipe=recipe, files=files, info=dict(info or {}))
            self._write_record(_record_key("recipes", asset, recipe), artifact)
            return artifact
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _ingest(self, made: Path) -> Path:
        hashed = os.stat(made)
        digest = file_digest(made)
        name = f"objects/{digest[:2]}/{digest}{made.suffix.lower()}"
        self.backend.publish(made, name)  # renamed into place, or already there and verified
        remember_digest(self.root / name, digest, hashed=hashed)  # so readers need not hash it again
        return self.root / name

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
        if self.backend.remote:  # a bucket's local copies: half-made downloads
            objects = self.root / "objects"
            for folder in sorted(p for p in objects.iterdir() if p.is_dir()) if objects.is_dir() else []:
                removed += sweep_temp_files(folder)
        return removed

    def verify(self, repair: bool = False) -> list[str]:
        """Check every record and every object it names against its SHA-256 name; return
        the problems in words (asset, partition or recipe, file). With ``repair`` the
        damaged objects and the records naming them are dropped, so the next run rebuilds
        those artifacts from their inputs."""
        problems = []
        for kind in ("partitions", "recipes"):
            for key in self.backend.list(kind):
                asset, *rest = key[len(kind) + 1:-len(".json")].split("/")
                what = f"{asset} [{'|'.join(rest)}]" if kind == "partitions" else f"{asset} (recipe {rest[-1]})"
                files = self._files(key)
                if files is None:
                    problems.append(f"{what}: record {key} is unreadable")
                    if repair:
                        self.backend.delete(key)
                    continue
                states = {name: self.backend.check(name, thorough=True) for name in files.values()}
                bad = [name for name, state in states.items() if state == DAMAGED]
                gone = [name for name, state in states.items() if state == MISSING]
                for name in bad:
                    problems.append(f"{what}: {name} is damaged (its bytes no longer match its name)")
                for name in gone:
                    problems.append(f"{what}: {name} is missing")
                if repair and (bad or gone):
                    for name in bad:
                        self.backend.remove(name)
                    self.backend.delete(key)
        return problems

    def prune(self, max_bytes: int) -> list[Path]:
        """Keep what partitions point at; of the objects only the cache (``recipes/``)
        remembers, delete the least recently made until they take at most ``max_bytes``,
        with the recipe records that name them (those recipes are built again if asked
        for). Returns the objects deleted (as local paths). Bounds the store: every edit
        leaves the old artifacts behind as cache, and a scene's lossless transition frames
        are large. A bucket's local copies are bounded to ``max_bytes`` as well."""
        pointed = set()
        for key in self.backend.list("partitions"):
            pointed |= set((self._files(key) or {}).values())
        cached = [(made, size, name) for name, size, made in self.backend.objects() if name not in pointed]
        total = sum(size for _, size, _ in cached)
        deleted = []
        for _, size, name in sorted(cached):
            if total <= max_bytes:
                break
            self.backend.remove(name)
            total -= size
            deleted.append(name)
        if deleted:
            gone = set(deleted)
            for key in self.backend.list("recipes"):
                if set((self._files(key) or {}).values()) & gone:
                    self.backend.delete(key)
        self.backend.trim_cache(max_bytes)
        return [self.root / name for name in deleted]

    # --------------------------------------------------------------- partitions
    def point(self, asset: str, partition: str, artifact: Artifact) -> None:
        self._write_record(_record_key("partitions", asset, _partition_path(partition)), artifact)

    def forget(self, asset: str, partition: str) -> None:
        """The partition holds no artifact any more (a scene position left empty): its
        pointer goes, so `prune` may reclaim what only it kept."""
        self.backend.delete(_record_key("partitions", asset, _partition_path(partition)))

    def forget_project(self, project: str) -> None:
        """A deleted project's partitions hold nothing any more (see `forget`)."""
        _partition_path(project)  # refuses a name that could leave the store
        assets = {key.split("/")[1] for key in self.backend.list("partitions")}
        for asset in sorted(assets):
            self.backend.delete(_record_key("partitions", asset, project))
            self.backend.delete_tree(f"partitions/{asset}/{project}")

    def load(self, asset: str, partition: str) -> Artifact | None:
        """The artifact a partition points at; None when it has none. Raises
        `DamagedArtifact` (naming the asset and partition) when its files are damaged."""
        what = f"{asset} [{partition}]"
        before = len(self.dropped)
        artifact = self._read_record(_record_key("partitions", asset, _partition_path(partition)), what)
        if artifact is None and len(self.dropped) > before:
            raise DamagedArtifact(self.dropped[-1])
        return artifact

    def has(self, asset: str, partition: str) -> bool:
        """Whether a partition points at an artifact whose files are all there (cheap: no
        hashing; damage is found when the files are read)."""
        files = self._files(_record_key("partitions", asset, _partition_path(partition)))
        return files is not None and all(self.backend.exists(name) for name in files.values())


def _partition_path(partition: str) -> str:
    # Multi-partition keys join dimensions with '|': one folder level per dimension.
    parts = partition.split("|")
    if any(not part or part in (".", "..") or "/" in part or "\\" in part for part in parts):
        raise ValueError(f"unsafe partition key {partition!r}")
    return "/".join(parts)
