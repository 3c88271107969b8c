"""Timeline arithmetic: scene placement, pieces, impossible timelines; and the same rules
read from project.yaml through ProjectSpec."""

from __future__ import annotations

import pytest

from parallax_pipeline.engine.compose.timeline import TimelineError, pieces, plan, poster_frame, total_frames
from parallax_pipeline.spec import ProjectError, load_project
from tests.conftest import write_small_project


def test_plan_places_scenes_with_overlaps():
    placed = plan([10, 20, 15], [4, 0], ["a", "b", "c"])
    assert [p.start for p in placed] == [0, 6, 26]
    assert [(p.overlap_in, p.overlap_out) for p in placed] == [(0, 4), (4, 0), (0, 0)]
    assert [p.solo_frames for p in placed] == [6, 16, 15]
    assert total_frames(placed) == 10 + 20 + 15 - 4 == 41


def test_pieces_tile_the_programme_in_order():
    placed = plan([10, 8, 12, 5], [3, 5, 2], None)
    cut_up = pieces(placed)
    # Contiguous, no gap, no overlap, and as long as the arithmetic says.
    position = 0
    for piece in cut_up:
        assert piece.start == position
        position += piece.frames
    assert position == total_frames(placed) == 35 - 10
    kinds = [(piece.scene, piece.transition, piece.clip_start, piece.frames) for piece in cut_up]
    assert kinds == [
        (0, False, 0, 7),
        (0, True, 7, 3),  # the last 3 frames of scene 0 blended with the first 3 of scene 1
        (1, True, 3, 5),  # scene 1 is all transition: no solo piece
        (2, False, 5, 5),
        (2, True, 10, 2),
        (3, False, 2, 3),
    ]


def test_single_scene_is_one_piece():
    placed = plan([7], [], ["only"])
    assert total_frames(placed) == 7
    assert [(p.scene, p.frames, p.transition) for p in pieces(placed)] == [(0, 7, False)]


@pytest.mark.parametrize(
    ("frames", "overlaps", "message"),
    [
        ([10, 5, 10], [6, 0], r"scene 'a'.*into 'b' lasts 6 frames, longer than scene 'b' \(5 frames\)"),
        ([5, 10, 10], [6, 0], r"scene 'a'.*lasts 6 frames, longer than scene 'a' \(5 frames\)"),
        ([10, 8, 10], [5, 4], r"scene 'b' lasts 8 frames, fewer than its transitions in \(5\) and out \(4\)"),
        ([10, 10], [-1], r"scene 'a'.*negative"),
        ([10, 0], [0], r"scene 'b' has 0 frames"),
    ],
)
def test_impossible_timelines_name_the_scene(frames, overlaps, message):
    with pytest.raises(TimelineError, match=message):
        plan(frames, overlaps, ["a", "b", "c"][: len(frames)])


def test_wrong_number_of_transitions_is_a_programming_error():
    with pytest.raises(ValueError, match="3 scenes need 2 transitions"):
        plan([1, 2, 3], [0], None)


# ----------------------------------------------------------------------------- project.yaml


def _project(tmp_path, yaml_text: str, scenes=("s1", "s2", "s3", "s4")):
    folder = write_small_project(tmp_path / "proj", list(scenes))
    (folder / "project.yaml").write_text(yaml_text)
    return folder


MIXED = """
output: {resolution: [320, 180], fps: 24, quality: draft}
defaults:
  duration: 2.0
  transition: {type: dissolve, duration: 0.5}
scenes:
  - {id: s1, image: images/s1.jpg, transition: {type: wipe, direction: up, duration: 0.3}}
  - {id: s2, image: images/s2.jpg, duration: 1.5, transition: cut}
  - {id: s3, image: images/s3.jpg, transition: circle}
  - {id: s4, image: images/s4.jpg, transition: {type: push, duration: 9}}
audio:
  effects:
    - {file: audio/music.mp3, scene: s3, at: 0.25}
"""


def test_mixed_transitions_timeline_from_project_yaml(tmp_path):
    spec = load_project(_project(tmp_path, MIXED))
    # 48 + 36 + 48 + 48 frames; wipe 0.3 s = 7.2 -> 7 frames, cut 0, circle default 0.5 s = 12;
    # s4's push is the last scene's transition: ignored, however long.
    assert [t.label() for t in spec.transitions()] == ["wipe up 0.3s", "cut", "circle 0.5s"]
    timeline = spec.timeline()
    assert [e.start for e in timeline] == [0, 41, 77, 113]
    assert [(e.overlap_in, e.overlap_out) for e in timeline] == [(0, 7), (7, 0), (0, 12), (12, 0)]
    assert spec.total_frames == 48 + 36 + 48 + 48 - 7 - 0 - 12 == 161
    assert spec.duration == pytest.approx(161 / 24)
    # A scene-relative effect starts where the scene first shows: its incoming transition.
    assert spec.audio.effects[0].at == pytest.approx(77 / 24 + 0.25)


def test_transition_longer_than_a_scene_is_an_error_naming_it(tmp_path):
    text = MIXED.replace("duration: 1.5, transition: cut", "duration: 0.25, transition: cut")
    with pytest.raises(ProjectError, match=r"project\.yaml: scene 's1'.*longer than scene 's2' \(6 frames\)"):
        load_project(_project(tmp_path, text))


def test_transitions_overlapping_inside_a_scene_is_an_error(tmp_path):
    text = """
output: {resolution: [320, 180], fps: 30}
defaults: {duration: 1.0, transition: {type: fade, duration: 0.6}}
"""
    with pytest.raises(ProjectError, match=r"project\.yaml: scene 's2' lasts 30 frames, fewer than its transitions"):
        load_project(_project(tmp_path, text, scenes=("s1", "s2", "s3")))


@pytest.mark.parametrize(
    ("transition", "message"),
    [
        ("{type: cut, duration: 1}", "a cut has no duration"),
        ("{type: dissolve, direction: left}", "a dissolve has no direction"),
        ("{type: wipe, duration: 0}", "a wipe needs a duration above 0"),
        ("{type: wipe, direction: sideways}", "direction"),
        ("{type: spin}", "type"),
        ("{type: fade, duration: -1}", "duration"),
    ],
)
def test_bad_transition_fields_name_file_and_field(tmp_path, transition, message):
    text = f"output: {{resolution: [320, 180], fps: 24}}\ndefaults: {{transition: {transition}}}\n"
    with pytest.raises(ProjectError, match=rf"project\.yaml: defaults\.transition.*{message}"):
        load_project(_project(tmp_path, text, scenes=("s1", "s2")))


def test_poster_frame_shows_one_scene_alone():
    # two scenes of 48 frames joined by a 24-frame push: the programme's middle frame
    # (35) is inside the push, half one scene and half the other
    placements = plan([48, 48], [24])
    assert total_frames(placements) // 2 in range(24, 48)
    frame = poster_frame(placements)
    solo = [range(p.start + p.overlap_in, p.end - p.overlap_out) for p in placements]
    assert any(frame in part for part in solo)
    # the longest solo part, and of equally long ones the middle scene's
    assert poster_frame(plan([30, 30, 30], [6, 6])) == 12  # scene 0's 24 solo frames beat scene 1's 18
    assert poster_frame(plan([30, 30, 30], [0, 0])) == 45
    # every frame in a transition: the middle is all there is
    assert poster_frame(plan([10, 10], [10])) == 5
