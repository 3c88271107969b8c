"""What every artifact-producing asset does around its engine call: reuse or build, then describe."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from parallax_pipeline.recipes import SOURCE_FINGERPRINT
from parallax_pipeline.resources import ArtifactStore
from parallax_pipeline.store import Artifact


def materialize_artifact(
    artifacts: ArtifactStore,
    asset: str,
    source: str,
    recipe: str,
    build: Callable[[Path], Mapping[str, Any]],
    about: Mapping[str, str] | None = None,
) -> dg.Output[Artifact]:
    """Reuse the artifact of an identical recipe, or build it into the store.

    The recipe becomes the data version, so downstream assets see a change only when an
    input really changed; the source fingerprint is recorded for the projects sensor.
    ``about`` names what was made (a scene partition's key is its position, so its scene
    id and image go here, not into the cached artifact a renamed scene shares).
    """
    store = artifacts.open()
    artifact, cache_hit = store.get_or_build(asset, recipe, build)
    metadata = {name: dg.MetadataValue.text(value) for name, value in (about or {}).items()}
    metadata.update(describe(artifact, source, cache_hit))
    if store.dropped:  # a damaged cached copy was found and replaced by this build
        metadata["integrity"] = dg.MetadataValue.text("\n".join(store.dropped))
    return dg.Output(artifact, data_version=dg.DataVersion(recipe), metadata=metadata)


def describe(artifact: Artifact, source: str, cache_hit: bool) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        SOURCE_FINGERPRINT: dg.MetadataValue.text(source),
        "recipe": dg.MetadataValue.text(artifact.recipe),
        "cache": dg.MetadataValue.text("hit: reused an identical earlier result" if cache_hit else "miss: built"),
    }
    for role, path in artifact.files.items():
        metadata[f"file {role}"] = dg.MetadataValue.path(str(path))
    for name, value in artifact.info.items():
        if value is None:
            continue
        if isinstance(value, str) and value.startswith("!["):
            metadata[name] = dg.MetadataValue.md(value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            metadata[name] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            metadata[name] = dg.MetadataValue.int(value)
        else:
            metadata[name] = dg.MetadataValue.float(float(value))
    return metadata
