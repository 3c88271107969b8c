"""composed_video in the real pipeline: transitions from project.yaml, every programme
frame encoded once, and incremental re-composition after a scene or a transition changes."""

from __future__ import annotations

import cv2

from parallax_pipeline.engine.video.codec import probe
from parallax_pipeline.partitions import scene_key
from parallax_pipeline.engine.video.concat import audit_decode
from parallax_pipeline.runner import settle
from parallax_pipeline.spec import load_project
from tests.conftest import write_small_project
from tests.engine.compose.test_programme import packets

TRANSITIONS = """\
defaults: {duration: 1.0, transition: {type: dissolve, duration: 0.25}}
scenes:
  - {id: one, image: images/one.jpg}
  - {id: two, image: images/two.jpg, transition: {type: wipe, direction: up, duration: 0.25}}
  - {id: three, image: images/three.jpg}
"""


def _composed(defs, name):
    return defs.resources["artifacts"].open().load("composed_video", name)


def _encoded_once(defs, spec) -> None:
    """Each programme frame was encoded by exactly one step: the solo parts by their
    scene's render, packet for packet the ones in the composed video; the transition
    frames by the composition."""
    store = defs.resources["artifacts"].open()
    composed = store.load("composed_video", spec.name)
    clips = [store.load("parallax_clip", str(scene_key(spec.name, index))) for index in range(len(spec.scenes))]
    transition_frames = sum(place.overlap_out for place in spec.timeline())
    assert sum(clip.info["frames_encoded"] for clip in clips) + transition_frames == spec.total_frames
    programme = packets(composed.path("video.mp4"))
    for clip, place in zip(clips, spec.timeline()):
        start = place.start + place.overlap_in
        assert programme[start : start + place.solo_frames] == packets(clip.path("solo.mp4")), place.name


def _assets(counter) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for (asset, partition), _ in counter.items():
        found.setdefault(asset, set()).add(partition)
    return found


def test_transitions_and_incremental_recomposition(studio):
    folder = write_small_project(studio.projects / "trans", ["one", "two", "three"])
    text = (folder / "project.yaml").read_text().replace("defaults: {duration: 1.0}\n", "")
    (folder / "project.yaml").write_text(text + TRANSITIONS)
    spec = load_project(folder)
    assert spec.total_frames == 3 * 24 - 6 - 6
    defs = studio.defs()
    assert settle(defs, studio.instance).succeeded

    composed = _composed(defs, "trans")
    assert composed.info["frames"] == spec.total_frames
    # The two transitions are encoded here; the three solo parts are the clips' own segments.
    assert (composed.info["pieces_encoded"], composed.info["frames_encoded"]) == (2, 12)
    assert composed.info["pieces_reused"] == 3 and composed.info["frames_stream_copied"] == spec.total_frames - 12
    _encoded_once(defs, spec)
    assert composed.info["transitions"] == "1× dissolve 0.25s, 1× wipe up 0.25s"
    final = probe(studio.renders / "trans.mp4")
    assert final.frames == spec.total_frames

    # One scene's image changes: its clip is re-rendered (its solo part encoded there),
    # and composition encodes only the transitions on either side of it.
    image = cv2.imread(str(spec.scenes[1].image))
    cv2.circle(image, (100, 100), 60, (0, 255, 255), -1)
    cv2.imwrite(str(spec.scenes[1].image), image)
    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    assert _assets(studio.materialized_since(mark))["parallax_clip"] == {"trans|002"}
    composed = _composed(defs, "trans")
    assert (composed.info["pieces_encoded"], composed.info["frames_encoded"]) == (2, 12)
    audit = audit_decode(composed.path("video.mp4"))
    assert audit.clean and audit.frames == spec.total_frames
    _encoded_once(defs, spec)

    # Only a transition changes: no clip is rendered, one piece is encoded.
    (folder / "project.yaml").write_text(
        (folder / "project.yaml").read_text().replace("direction: up", "direction: down")
    )
    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    made = _assets(studio.materialized_since(mark))
    assert "parallax_clip" not in made and made["composed_video"] == {"trans"}
    composed = _composed(defs, "trans")
    assert (composed.info["pieces_encoded"], composed.info["frames_encoded"]) == (1, 6)
    # The deliverable (picture stream-copied again, with the mix) still decodes cleanly.
    final = audit_decode(studio.renders / "trans.mp4")
    assert final.clean and final.frames == spec.total_frames
