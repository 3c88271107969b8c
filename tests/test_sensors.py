"""The projects sensor, evaluated for real against a SQLite instance."""

from __future__ import annotations

import datetime

import dagster as dg

from parallax_pipeline.runner import settle
from tests.conftest import DEMO, add_scene, write_small_project


def evaluate(studio, defs):
    sensor = defs.resolve_sensor_def("projects_sensor")
    with dg.build_sensor_context(instance=studio.instance, definitions=defs, resources=defs.resources) as context:
        return sensor(context)


def _requests(result) -> set[tuple[frozenset[str], str]]:
    return {
        (frozenset(key.to_user_string() for key in request.asset_selection), str(request.partition_key))
        for request in result.run_requests
    }


def _partition_changes(result) -> dict[str, tuple[str, set[str]]]:
    changes = {}
    for request in result.dynamic_partitions_requests:
        kind = "add" if isinstance(request, dg.AddDynamicPartitionsRequest) else "delete"
        changes.setdefault(request.partitions_def_name, []).append((kind, set(request.partition_keys)))
    return changes


def test_new_project_folder_is_registered_and_rendered(studio):
    defs = studio.defs()
    assert isinstance(evaluate(studio, defs), dg.SkipReason)

    write_small_project(studio.projects / "trip", ["alpha", "beta"])
    result = evaluate(studio, defs)
    assert _partition_changes(result) == {
        "projects": [("add", {"trip"})],
        "scene_positions": [("add", {"001", "002"})],
    }
    both = frozenset({"depth_map", "parallax_clip"})
    assert _requests(result) == {
        (both, "trip|001"),
        (both, "trip|002"),
        (frozenset({"mixed_audio"}), "trip"),
    }


def test_added_image_renders_only_the_new_scene(studio):
    folder = write_small_project(studio.projects / "trip", ["alpha", "beta"])
    defs = studio.defs()
    assert settle(defs, studio.instance).succeeded
    assert isinstance(evaluate(studio, defs), dg.SkipReason)

    add_scene(folder, "gamma", "01-valley")
    result = evaluate(studio, defs)
    assert _partition_changes(result) == {"scene_positions": [("add", {"003"})]}
    # The soundtrack follows the picture's length, so it is remixed too.
    assert _requests(result) == {
        (frozenset({"depth_map", "parallax_clip"}), "trip|003"),
        (frozenset({"mixed_audio"}), "trip"),
    }


def test_removed_image_recomposes_the_project_without_rendering_a_scene(studio):
    folder = write_small_project(studio.projects / "trip", ["alpha", "beta", "gamma"])
    defs = studio.defs()
    assert settle(defs, studio.instance).succeeded

    next((folder / "images").glob("beta.*")).unlink()
    result = evaluate(studio, defs)
    # gamma moves up to position 2; position 3 is no longer used by any project.
    assert _partition_changes(result) == {"scene_positions": [("delete", {"003"})]}
    both = frozenset({"depth_map", "parallax_clip"})
    assert _requests(result) == {(both, "trip|002"), (frozenset({"mixed_audio"}), "trip")}

    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    assert {asset for asset, _ in studio.materialized_since(mark)} == {
        "depth_map", "parallax_clip", "composed_video", "mixed_audio", "final_video"
    }
    # gamma's depth map and clip came from the content cache: nothing was rendered again
    assert studio.built_since(mark) == {("composed_video", "trip"), ("mixed_audio", "trip"), ("final_video", "trip")}
    assert settle(defs, studio.instance).up_to_date


def test_nightly_rescan_completes_missing_project_assets(studio):
    """A final video whose run failed is not retried by the sensor (it would fail each
    tick); the nightly re-scan requests it again."""
    write_small_project(studio.projects / "trip", ["alpha"])
    studio.renders.write_text("a file where the renders folder should be")
    defs = studio.defs()
    report = settle(defs, studio.instance, include_missing=False)  # as the daemon: sensor + automation
    assert len(report.failures) == 1 and "renders" in report.failures[0]
    studio.renders.unlink()
    assert isinstance(evaluate(studio, defs), dg.SkipReason)

    schedule = defs.resolve_schedule_def("nightly_rescan")
    tick = datetime.datetime(2026, 11, 27, 3, 0, tzinfo=datetime.timezone.utc)
    with dg.build_schedule_context(
        instance=studio.instance, resources=defs.resources, scheduled_execution_time=tick
    ) as context:
        requests = schedule(context)
    assert [(r.asset_selection, r.partition_key) for r in requests] == [([dg.AssetKey("final_video")], "trip")]


def _tick(studio, defs, cursor):
    sensor = defs.resolve_sensor_def("projects_sensor")
    with dg.build_sensor_context(
        instance=studio.instance, definitions=defs, resources=defs.resources, cursor=cursor
    ) as context:
        result = sensor(context)
        return result, context.cursor if isinstance(result, dg.SkipReason) else result.cursor


def test_an_idle_tick_compares_only_what_changed(studio):
    for name in ("trip", "walk", "tour"):
        write_small_project(studio.projects / name, ["alpha"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date
    first, cursor = _tick(studio, defs, None)
    assert isinstance(first, dg.SkipReason) and "3 of 3 compared" in first.skip_message
    idle, cursor = _tick(studio, defs, cursor)
    assert isinstance(idle, dg.SkipReason) and "0 of 3 compared" in idle.skip_message

    image = next((studio.projects / "walk" / "images").glob("alpha.*"))
    image.write_bytes(next((DEMO / "images").glob("04-coast.*")).read_bytes())
    changed, cursor = _tick(studio, defs, cursor)
    assert _requests(changed) == {(frozenset({"depth_map", "parallax_clip"}), "walk|001")}
    assert settle(defs, studio.instance).succeeded
    # the runs' new materializations bring only that project back to the comparison
    after, cursor = _tick(studio, defs, cursor)
    assert isinstance(after, dg.SkipReason) and "1 of 3 compared" in after.skip_message
    idle, _ = _tick(studio, defs, cursor)
    assert "0 of 3 compared" in idle.skip_message


def test_a_tick_past_its_time_budget_leaves_the_other_projects_for_the_next(studio, monkeypatch):
    """Dagster gives a sensor evaluation 60 s; the first tick over many projects would take
    longer, so comparing stops at the budget and the next ticks go on from there."""
    from parallax_pipeline import sensors

    for name in ("trip", "walk", "tour"):
        write_small_project(studio.projects / name, ["alpha"])
    defs = studio.defs()
    monkeypatch.setattr(sensors, "TICK_BUDGET_SECONDS", 0.0)  # one project a tick
    registered, cursor = [], None
    for _ in range(3):
        result, cursor = _tick(studio, defs, cursor)
        added = [r for r in result.dynamic_partitions_requests if r.partitions_def_name == "projects"]
        registered += [key for request in added for key in request.partition_keys]
        for request in result.dynamic_partitions_requests:
            studio.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        assert {request.partition_key for request in result.run_requests} <= {registered[-1], f"{registered[-1]}|001"}
    assert sorted(registered) == ["tour", "trip", "walk"]
    idle, _ = _tick(studio, defs, cursor)
    assert isinstance(idle, dg.SkipReason) and "0 of 3 compared" in idle.skip_message


def test_a_nightly_rescan_out_of_time_goes_on_the_next_night_from_where_it_stopped(studio, monkeypatch):
    from parallax_pipeline import sensors

    for name in ("trip", "walk", "tour"):
        write_small_project(studio.projects / name, ["alpha"])
    defs = studio.defs()
    monkeypatch.setattr(sensors, "TICK_BUDGET_SECONDS", 0.0)  # one project a night
    schedule = defs.resolve_schedule_def("nightly_rescan")
    compared = []
    for day in (1, 2, 3, 4):
        tick = datetime.datetime(2026, 11, day, 3, 0, tzinfo=datetime.timezone.utc)
        with dg.build_schedule_context(
            instance=studio.instance, resources=defs.resources, scheduled_execution_time=tick
        ) as context:
            requests = schedule(context)
        compared.append({request.partition_key.split("|")[0] for request in requests})
    assert compared == [{"tour"}, {"trip"}, {"walk"}, {"tour"}]
    assert sorted(studio.instance.get_dynamic_partitions("projects")) == ["tour", "trip", "walk"]
