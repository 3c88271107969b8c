"""composed_video in the real pipeline: transitions from project.yaml, and incremental
re-composition after a scene or a transition changes."""

from __future__ import annotations

import cv2

from parallax_pipeline.engine.video.codec import probe
from parallax_pipeline.engine.video.concat import audit_decode
from parallax_pipeline.runner import settle
from parallax_pipeline.spec import load_project
from tests.conftest import write_small_project

TRANSITIONS = """\
defaults: {duration: 1.0, transition: {type: dissolve, duration: 0.25}}
scenes:
  - {id: one, image: images/one.jpg}
  - {id: two, image: images/two.jpg, transition: {type: wipe, direction: up, duration: 0.25}}
  - {id: three, image: images/three.jpg}
"""


def _composed(defs, name):
    return defs.resources["artifacts"].open().load("composed_video", name)


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
    assert composed.info["pieces_encoded"] == 5 and composed.info["pieces_reused"] == 0
    assert composed.info["transitions"] == "1× dissolve 0.25s, 1× wipe up 0.25s"
    final = probe(studio.renders / "trans.mp4")
    assert final.frames == spec.total_frames

    # One scene's image changes: its clip is re-rendered, and composition re-encodes only
    # that scene and the transitions on either side of it.
    image = cv2.imread(str(spec.scenes[1].image))
    cv2.circle(image, (100, 100), 60, (0, 255, 255), -1)
    cv2.imwrite(str(spec.scenes[1].image), image)
    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    assert _assets(studio.materialized_since(mark))["parallax_clip"] == {"trans|two"}
    composed = _composed(defs, "trans")
    assert (composed.info["pieces_encoded"], composed.info["frames_encoded"]) == (3, 24)
    audit = audit_decode(composed.path("video.mp4"))
    assert audit.clean and audit.frames == spec.total_frames

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
