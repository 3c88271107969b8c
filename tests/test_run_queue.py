"""`parallax run`'s runs go through the instance's run queue and run launcher: queued, limited,
launched in their own processes, side by side, and cleaned up when their launcher dies."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus

from parallax_pipeline.engine.files import process_alive
from parallax_pipeline.instance_settings import instance_settings
from parallax_pipeline.recovery import PID_TAG, RUN_KEY_TAG, process_tags, recover
from parallax_pipeline.run_launcher import PreloadedRunLauncher
from parallax_pipeline.run_queue import CODE_LOCATION, LAUNCHED_BY_TAG, PLANNED_BY_TAG, RunQueue, create_run
from parallax_pipeline.runner import dynamic_partitions_read_once, settle
from parallax_pipeline.planning import plan_changes
from tests.conftest import Studio, started_run, write_small_project


def _event_time(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType, step: str | None = None) -> float:
    records = [
        record for record in instance.all_logs(run_id, of_type=kind)
        if step is None or record.dagster_event.step_key == step
    ]
    assert records, f"run {run_id}: no {kind.value}{f' of {step}' if step else ''}"
    return records[0].timestamp


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def test_every_run_is_queued_then_launched_in_its_own_process_with_its_origin(studio):
    write_small_project(studio.projects / "trip", ["alpha", "beta"])
    report = settle(studio.defs(), studio.instance)
    assert report.up_to_date and report.succeeded, report
    assert isinstance(studio.instance.run_launcher, PreloadedRunLauncher)
    planned = set()
    for run in report.runs:
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert studio.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED), "not queued"
        assert studio.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_STARTING), "not launched"
        assert run.tags[LAUNCHED_BY_TAG] == "parallax run"
        planned.add(run.tags[PLANNED_BY_TAG])
        assert int(run.tags[PID_TAG]) != os.getpid(), "executed in the test's process"
        assert run.remote_job_origin.location_name == CODE_LOCATION
    assert planned == {"sensor", "automation"}


@pytest.mark.parametrize("runs_at_once", [1, 2])
def test_scenes_render_side_by_side_as_the_queue_allows_and_depth_steps_one_at_a_time(tmp_path, runs_at_once):
    (tmp_path / "projects").mkdir()
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home"), overrides=instance_settings(runs_at_once)) as instance:
        studio = Studio(root=tmp_path, instance=instance)
        write_small_project(studio.projects / "trip", ["alpha", "beta", "gamma", "delta"])
        report = settle(studio.defs(), instance)
        assert report.up_to_date and report.succeeded, report
        scene_runs = [run for run in report.runs if "dagster/partition/scene" in run.tags and run.asset_selection
                      and dg.AssetKey("parallax_clip") in run.asset_selection]
        assert len(scene_runs) == 4
        # from the queue's launch to the run's end
        spans = {
            run.run_id: (_event_time(instance, run.run_id, dg.DagsterEventType.RUN_STARTING),
                         _event_time(instance, run.run_id, dg.DagsterEventType.RUN_SUCCESS))
            for run in scene_runs
        }
        side_by_side = [pair for pair in itertools.combinations(spans.values(), 2) if _overlap(*pair) > 0]
        if runs_at_once == 1:
            assert not side_by_side, "two runs at once with a limit of one"
        else:
            assert side_by_side, "no two scene runs at once with a limit of two"
        depth_steps = [
            (_event_time(instance, run.run_id, dg.DagsterEventType.STEP_START, "depth_map"),
             _event_time(instance, run.run_id, dg.DagsterEventType.STEP_SUCCESS, "depth_map"))
            for run in scene_runs if dg.AssetKey("depth_map") in run.asset_selection
        ]
        assert len(depth_steps) == 4
        assert all(_overlap(a, b) <= 0 for a, b in itertools.combinations(depth_steps, 2)), "the gpu pool was not kept"


def _dead_process_tags() -> dict[str, str]:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return process_tags(gone.pid)


def test_a_run_queued_by_a_process_that_died_is_canceled_and_its_key_freed(studio):
    write_small_project(studio.projects / "trip", ["alpha"])
    defs = studio.defs()
    plan = plan_changes(defs.resources["projects"], studio.instance, studio.depth_model)
    plan.apply_partitions(studio.instance)
    request = plan.run_requests[0]
    run = create_run(defs, studio.instance, request, {RUN_KEY_TAG: "trip-key", **_dead_process_tags()})
    studio.instance.submit_run(run.run_id, workspace=None)
    assert studio.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.QUEUED

    found = recover(studio.instance)
    assert found.canceled_runs == [run.run_id]
    canceled = studio.instance.get_run_by_id(run.run_id)
    assert canceled.status == dg.DagsterRunStatus.CANCELED
    assert canceled.tags[RUN_KEY_TAG] != "trip-key"  # the same work can be requested again
    assert recover(studio.instance).canceled_runs == []


def test_terminating_a_run_stops_its_process_and_ends_the_run(studio):
    project = write_small_project(studio.projects / "long", ["alpha"])
    (project / "project.yaml").write_text("output: {resolution: [320, 180], fps: 24, quality: draft}\ndefaults: {duration: 30.0}\n")
    defs = studio.defs()
    plan = plan_changes(defs.resources["projects"], studio.instance, studio.depth_model)
    plan.apply_partitions(studio.instance)
    request = next(r for r in plan.run_requests if dg.AssetKey("parallax_clip") in r.asset_selection)
    with RunQueue(studio.instance) as queue:
        run = create_run(defs, studio.instance, request, {LAUNCHED_BY_TAG: "test"})
        queue.submit(run)
        deadline = time.monotonic() + 120
        while not studio.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
            assert time.monotonic() < deadline, "the run never started a step"
            queue.launch_queued()
            time.sleep(0.1)
        running = studio.instance.get_run_by_id(run.run_id)
        pid = int(running.tags[PID_TAG])
        assert studio.instance.run_launcher.check_run_worker_health(running).status == WorkerStatus.RUNNING
        assert studio.instance.run_launcher.terminate(run.run_id)
        ended = queue.wait([run.run_id])[0]
    assert ended.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE), ended.status
    deadline = time.monotonic() + 10
    while process_alive(pid):
        assert time.monotonic() < deadline, "the run's process outlived its termination"
        time.sleep(0.1)
    assert studio.instance.run_launcher.check_run_worker_health(ended).status == WorkerStatus.FAILED


def test_parallax_run_refuses_an_instance_whose_launcher_it_cannot_use(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(  # the user's own file: kept, and refused with the reason
        "run_launcher:\n  module: dagster.core.launcher\n  class: DefaultRunLauncher\n"
    )
    write_small_project(tmp_path / "projects" / "trip", ["alpha"])
    done = subprocess.run(
        [sys.executable, "-m", "parallax_pipeline.cli", "run", "--projects", str(tmp_path / "projects"),
         "--storage", str(tmp_path / "storage"), "--renders", str(tmp_path / "renders")],
        env={**os.environ, "DAGSTER_HOME": str(home)}, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PreloadedRunLauncher" in done.stderr and "DefaultRunLauncher" in done.stderr
    assert "run_launcher:" in (home / "dagster.yaml").read_text()
    assert not (tmp_path / "renders" / "trip.mp4").exists()


def test_a_step_left_waiting_beside_a_free_pool_slot_is_given_it(studio):
    """Dagster's race, made on purpose: run B's depth step queues for the `gpu` slot just
    after run A freed it (B saw it taken), so no later free hands it on."""
    storage = studio.instance.event_log_storage
    storage.set_concurrency_slots("gpu", 1)
    run_a, run_b = (started_run(studio.instance) for _ in range(2))
    assert storage.claim_concurrency_slot("gpu", run_a, "depth_map").is_claimed
    storage.free_concurrency_slot_for_step(run_a, "depth_map")
    storage.add_pending_step(concurrency_key="gpu", run_id=run_b, step_key="depth_map", should_assign=False)
    assert not storage.claim_concurrency_slot("gpu", run_b, "depth_map").is_claimed  # stranded

    found = recover(studio.instance)
    assert found.assigned_steps == [f"gpu: {run_b[:8]}/depth_map"]
    assert storage.claim_concurrency_slot("gpu", run_b, "depth_map").is_claimed
    assert recover(studio.instance).assigned_steps == []  # the slot is taken now: nothing more to give



def test_an_automation_evaluation_reads_each_dynamic_partitions_definition_once(monkeypatch):
    # the evaluation asks for a definition's keys for every asset and condition it
    # serialises (252 queries for this project's definitions); within the block the
    # storage is asked once per definition, and after it the instance reads as before
    from parallax_pipeline import partitions
    from parallax_pipeline.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(partitions.projects.name, ["trip"])
    instance.add_dynamic_partitions(partitions.scene_positions.name, ["001", "002"])
    storage = instance.event_log_storage
    queried = []
    real = storage.get_dynamic_partitions

    def counted(partitions_def_name):
        queried.append(partitions_def_name)
        return real(partitions_def_name)

    monkeypatch.setattr(storage, "get_dynamic_partitions", counted)
    plain = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    asked = len(queried)
    assert asked > 20  # what the cache is for
    queried.clear()
    with dynamic_partitions_read_once(instance):
        cached = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert instance.has_dynamic_partition(partitions.projects.name, "trip")
    assert len(queried) == len(set(queried)) and set(queried) <= {partitions.projects.name, partitions.scene_positions.name}
    assert cached.total_requested == plain.total_requested
    instance.add_dynamic_partitions(partitions.projects.name, ["coast"])
    assert "coast" in instance.get_dynamic_partitions(partitions.projects.name)  # read from storage again
    assert "get_dynamic_partitions" not in vars(instance)
