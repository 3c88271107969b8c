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

from parallax_pipeline.engine.compose.timeline import Placement
from parallax_pipeline.engine.files import file_digest
from parallax_pipeline.spec import ProjectSpec, Scene

SOURCE_FINGERPRINT = "source_fingerprint"
"""Metadata key of the source fingerprint on every materialization (read by the sensor)."""

# Bump an asset's version when its output for the same inputs changes.
CODE_VERSIONS = {
    "depth_map": "3",  # 3: a supplied map smaller than its picture is guided-upsampled
    "parallax_clip": "3",  # 3: split into lossless head and tail and an H.264 solo segment; 8 layer cuts, sharpened depth
    "composed_video": "3",  # 3: solo segments stream-copied, transitions blended from lossless frames
    "mixed_audio": "2",  # 2: loudness-matched stems, ducking, fades, mastering to a target
    "final_video": "2",  # 2: true peak checked on the encoded file, loudness measured
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


def placement(spec: ProjectSpec, scene: Scene) -> Placement:
    """Where ``scene`` sits on its project's timeline."""
    return spec.timeline()[spec.scenes.index(scene)]


def parallax_clip_source(spec: ProjectSpec, scene: Scene) -> str:
    # The overlaps decide which frames are encoded and which are kept for transitions: a
    # neighbour's transition length re-splits the clip, its type or direction does not.
    place = placement(spec, scene)
    return digest(
        "parallax_clip",
        CODE_VERSIONS["parallax_clip"],
        content_hash(scene.image),
        scene.motion.model_dump(),
        spec.scene_frames(scene),
        spec.output.model_dump(),
        [place.overlap_in, place.overlap_out],
    )


def composed_video_source(spec: ProjectSpec) -> str:
    # The transitions as they are used: the last scene's (ignored) is left out, so editing
    # it does not re-compose; the scenes and their frame counts come in through the clips'
    # recipes, in order, so renaming a scene does not re-compose either.
    return digest(
        "composed_video",
        CODE_VERSIONS["composed_video"],
        len(spec.scenes),
        [transition.model_dump() for transition in spec.transitions()],
        spec.output.model_dump(),
    )


def mixed_audio_source(spec: ProjectSpec) -> str:
    audio = spec.audio
    return digest(
        "mixed_audio",
        CODE_VERSIONS["mixed_audio"],
        [_placement_fields(place) for place in spec.timeline()],
        spec.output.fps,
        [(content_hash(s.voiceover), s.voiceover_level, s.voiceover_offset) for s in spec.scenes],
        content_hash(audio.voiceover),
        audio.voiceover_level,
        content_hash(audio.music),
        audio.mix.model_dump(),
        [(content_hash(e.file), e.at, e.gain, e.fade_in, e.fade_out) for e in audio.effects],
    )


def _placement_fields(place) -> dict[str, Any]:
    # The field names the fingerprint was first made with, so existing mixes stay current.
    return {
        "scene": place.name,
        "start_frame": place.start,
        "frames": place.frames,
        "overlap_in": place.overlap_in,
        "overlap_out": place.overlap_out,
    }


def final_video_source(spec: ProjectSpec) -> str:
    # The loudness target and ceiling are checked (and if need be enforced) on the encoded file.
    return digest("final_video", CODE_VERSIONS["final_video"], spec.name, spec.audio.mix.loudness.model_dump())


def combine(source: str, *upstream_recipes: str) -> str:
    """The recipe of an artifact: its own sources plus the recipes it was made from."""
    return digest(source, *upstream_recipes)
