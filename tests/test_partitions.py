"""Scene partitions keyed by position: what exists, what is marked empty, what goes away."""

from __future__ import annotations

import shutil

import dagster as dg

from parallax_pipeline import partitions
from parallax_pipeline.freshness import recorded
from parallax_pipeline.runner import settle
from parallax_pipeline.planning import plan_changes
from tests.conftest import add_scene, write_small_project


def _keys(studio) -> set[str]:
    return set(partitions.project_scenes.get_partition_keys(dynamic_partitions_store=studio.instance))


def _materialized(studio, asset: str) -> set[str]:
    return set(studio.instance.get_materialized_partitions(dg.AssetKey(asset)))


def test_keys_exist_for_real_scenes_and_a_smaller_projects_tail_is_marked_empty(studio):
    big = write_small_project(studio.projects / "big", ["alpha", "beta", "gamma"])
    write_small_project(studio.projects / "small", ["alpha"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date

    keys = _keys(studio)
    assert keys == {f"{project}|{position}" for project in ("big", "small") for position in ("001", "002", "003")}
    # Nothing shows as missing: small's positions 2 and 3 are marked empty, not rendered.
    for asset in ("depth_map", "parallax_clip"):
        assert _materialized(studio, asset) == keys
    for key in ("small|002", "small|003"):
        assert recorded(studio.instance, "parallax_clip", key).source == partitions.EMPTY
    assert recorded(studio.instance, "parallax_clip", "small|001").source != partitions.EMPTY

    # A fourth scene in one project adds a position: every other project gets it marked
    # empty, and nothing of theirs is rendered or encoded again for it.
    mark = studio.mark()
    add_scene(big, "delta", "01-valley")
    assert settle(defs, studio.instance).up_to_date
    assert "small|004" in _keys(studio) and "small|004" in _materialized(studio, "parallax_clip")
    made = studio.materialized_since(mark)
    assert not {key for key in made if key[1].startswith("small|") and key[1] != "small|004"}
    assert not {key for key in studio.built_since(mark) if key[1].startswith("small")}


def test_a_deleted_project_and_unused_positions_leave_no_partitions(studio):
    write_small_project(studio.projects / "big", ["alpha", "beta", "gamma"])
    write_small_project(studio.projects / "small", ["alpha"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date

    shutil.rmtree(studio.projects / "big")
    assert settle(defs, studio.instance).up_to_date
    assert studio.instance.get_dynamic_partitions(partitions.projects.name) == ["small"]
    assert studio.instance.get_dynamic_partitions(partitions.scene_positions.name) == ["001"]
    assert _keys(studio) == {"small|001"}
    # nor store pointers that would keep its artifacts from being pruned
    store = defs.resources["artifacts"].open()
    assert store.load("parallax_clip", "big|001") is None and store.load("final_video", "big") is None
    assert store.load("parallax_clip", "small|001") is not None


def test_renaming_and_reordering_scenes_render_nothing_again(studio):
    folder = write_small_project(studio.projects / "trip", ["alpha", "beta", "gamma"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date

    # Renamed: same position, same pictures.
    mark = studio.mark()
    for sub in ("images", "depth"):
        old = next((folder / sub).glob("alpha.*"))
        old.rename(old.with_name("aardvark" + old.suffix))
    assert settle(defs, studio.instance).up_to_date
    assert not {asset for asset, _ in studio.built_since(mark)} & {"depth_map", "parallax_clip", "composed_video"}

    # Reordered (scenes follow file names): every position holds another scene now, each
    # clip comes back from the content cache; only the composition and the soundtrack (it
    # places each scene's voiceover) are made again.
    mark = studio.mark()
    for sub in ("images", "depth"):
        old = next((folder / sub).glob("aardvark.*"))
        old.rename(old.with_name("zebra" + old.suffix))
    assert settle(defs, studio.instance).up_to_date
    made = studio.materialized_since(mark)
    assert {key for key in made if key[0] == "parallax_clip"} == {
        ("parallax_clip", f"trip|{position}") for position in ("001", "002", "003")
    }
    assert {asset for asset, _ in studio.built_since(mark)} == {"composed_video", "mixed_audio", "final_video"}


def test_names_that_break_partition_keys_are_refused_with_the_reason(studio):
    for name in ("a|b", "a,b"):
        write_small_project(studio.projects / name, ["alpha"])
    write_small_project(studio.projects / "fine", ["alpha"])
    defs = studio.defs()
    plan = plan_changes(defs.resources["projects"], studio.instance, studio.depth_model)
    assert plan.new_projects == ["fine"]
    assert len(plan.problems) == 2
    assert any("'a|b'" in text and "'|'" in text and "partition keys" in text for text in plan.problems)
    assert any("'a,b'" in text and "','" in text for text in plan.problems)


def test_the_sensor_marks_empty_positions_a_bounded_number_at_a_time(studio, monkeypatch):
    from parallax_pipeline import sensors

    write_small_project(studio.projects / "big", ["alpha", "beta", "gamma"])
    write_small_project(studio.projects / "small", ["alpha"])
    defs = studio.defs()
    sensor = defs.resolve_sensor_def("projects_sensor")
    monkeypatch.setattr(sensors, "MARKS_PER_TICK", 1)
    marked, cursor = [], None
    for _ in range(4):
        with dg.build_sensor_context(
            instance=studio.instance, definitions=defs, resources=defs.resources, cursor=cursor
        ) as context:
            result = sensor(context)
            cursor = result.cursor if isinstance(result, dg.SensorResult) else context.cursor
        if isinstance(result, dg.SensorResult):
            for request in result.dynamic_partitions_requests:
                studio.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            events = [e for e in result.asset_events if isinstance(e, dg.AssetMaterialization)]
            for event in events:
                studio.instance.report_runless_asset_event(event)
            marked.append(sorted({event.partition for event in events}))
        else:
            marked.append([])
    assert marked == [["small|002"], ["small|003"], [], []]


def test_automation_composes_a_project_registered_before_its_first_evaluation(studio):
    """As under the daemon: the project's partitions exist when automation first looks
    (so "newly missing" is spent on that first evaluation); the scenes' runs then bring
    the composition and the final video."""
    from parallax_pipeline.runner import execute

    write_small_project(studio.projects / "trip", ["alpha", "beta"])
    defs = studio.defs()
    plan = plan_changes(defs.resources["projects"], studio.instance, studio.depth_model)
    plan.apply_partitions(studio.instance)
    first = dg.evaluate_automation_conditions(defs=defs, instance=studio.instance)
    assert first.total_requested == 0
    for request in plan.run_requests:
        assert execute(defs, studio.instance, request).status == dg.DagsterRunStatus.SUCCESS
    second = dg.evaluate_automation_conditions(defs=defs, instance=studio.instance, cursor=first.cursor)
    assert second.total_requested >= 1  # composed_video [trip]
