"""Recipes: hashes of everything an asset is made from.

Each asset partition has a *source fingerprint*: the hash of its own inputs that live in
the project folder (file bytes, settings from project.yaml) and its code version. The
sensor compares it with the one recorded on the last materialization to find what
changed on disk. An artifact's *recipe* adds the recipes of its upstream artifacts; it
is the Dagster data version and the cache key of the content store.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from parallax_pipeline.io_managers.content_store import file_digest
from parallax_pipeline.spec import ProjectSpec, Scene

# Bump an asset's version when its output for the same inputs changes.
CODE_VERSIONS = {
    "depth_map": "1",
    "parallax_clip": "1",
    "composed_video": "1",
    "mixed_audio": "1",
    "final_video": "1",
}

_digests: dict[tuple[str, int, int], str] = {}


def content_hash(path: Path | None) -> str | None:
    """SHA-256 of a file, remembered per (path, size, mtime) so sensor ticks stay cheap."""
    if path is None:
        return None
    stat = os.stat(path)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        _digests[key] = file_digest(path)
    return _digests[key]


def digest(*parts: Any) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def depth_map_source(scene: Scene, model: str) -> str:
    # The image is part of it even when a depth file is supplied: the map is aligned to it.
    return digest(
        "depth_map",
        CODE_VERSIONS["depth_map"],
        content_hash(scene.image),
        content_hash(scene.depth) if scene.depth else ("model", model),
    )


def parallax_clip_source(spec: ProjectSpec, scene: Scene) -> str:
    return digest(
        "parallax_clip",
        CODE_VERSIONS["parallax_clip"],
        content_hash(scene.image),
        scene.motion.model_dump(),
        spec.scene_frames(scene),
        spec.output.model_dump(),
    )


def composed_video_source(spec: ProjectSpec) -> str:
    return digest(
        "composed_video",
        CODE_VERSIONS["composed_video"],
        [(scene.id, scene.transition.model_dump()) for scene in spec.scenes],
        spec.output.model_dump(),
    )


def mixed_audio_source(spec: ProjectSpec) -> str:
    audio = spec.audio
    return digest(
        "mixed_audio",
        CODE_VERSIONS["mixed_audio"],
        [entry.model_dump() for entry in spec.timeline()],
        spec.output.fps,
        [(content_hash(s.voiceover), s.voiceover_level) for s in spec.scenes],
        content_hash(audio.voiceover),
        audio.voiceover_level,
        content_hash(audio.music),
        audio.music_level,
        [(content_hash(e.file), e.at, e.gain) for e in audio.effects],
    )


def final_video_source(spec: ProjectSpec) -> str:
    return digest("final_video", CODE_VERSIONS["final_video"], spec.name)


def combine(source: str, *upstream_recipes: str) -> str:
    """The recipe of an artifact: its own sources plus the recipes it was made from."""
    return digest(source, *upstream_recipes)
