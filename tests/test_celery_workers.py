"""Two Celery workers render one project's scenes, end to end on real parts: Debian's
redis-server as the broker (and result backend), the PostgreSQL instance and the S3 bucket
(moto) shared by the runs and both workers, each worker with its own local cache of the
bucket (as on its own machine).

One run per scene partition (depth_map + parallax_clip), each in its own process with
the celery executor (``PARALLAX_EXECUTOR=celery``), as the daemon's run launcher would
start them; the steps are tasks on the ``dagster`` queue, taken by two
``celery -A parallax_pipeline.celery_app worker -c 1`` processes. While one worker renders
a clip, it is killed (SIGKILL to its main and pool processes: a machine gone). Its step
was never acknowledged (``task_acks_late``), so after the visibility timeout Redis gives it
to the surviving worker, which renders it; the run never notices. Every scene's depth map
and clip is then materialized exactly once, built exactly once, its objects in the bucket,
and no step that had finished anywhere ran again. Then a fifth scene's run, and the
survivor's pool process (the one running the clip) is killed: the worker gives the step
back at once (``task_reject_on_worker_lost``) and runs it again in a new pool process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from parallax_pipeline.store import ContentStore
from tests.conftest import REPO, postgres_database_name, write_small_project
from tests.postgres_server import write_postgres_home
from tests.redis_server import start_redis

PROJECT = "trip"
# Durations differ, so no two clips share a recipe (each is built once, none a cache hit of
# another); s1-s4 have the four demo pictures, s5 s1's again. A few seconds each, so a clip
# renders long enough (a second or more) to be killed mid-render.
SCENES = [("s1", 4.0), ("s2", 4.5), ("s3", 5.0), ("s4", 5.5), ("s5", 6.0)]
PARTITIONS = [f"{PROJECT}|{index + 1:03d}" for index in range(len(SCENES) - 1)]
LATE_PARTITION = f"{PROJECT}|{len(SCENES):03d}"
"""Rendered after the others, by the surviving worker, whose pool process is killed mid-clip."""
VISIBILITY_TIMEOUT = 20
"""Seconds before Redis hands an unacknowledged step to another worker: well above the
longest step here (about 3 s), or a step still running would be handed out twice."""
GPU_SLOTS = 2
"""The `gpu` pool's limit, set as the README says (`dagster instance concurrency set gpu 2`):
one depth step per worker (a GPU each)."""
DEADLINE = 180  # seconds for the whole scenario: past it the test fails rather than hangs
ASSETS = ("depth_map", "parallax_clip")
STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
               dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ENGINE_EVENT}


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        return self.log.is_file() and " ready." in self.log.read_text()

    def kill(self) -> None:
        """SIGKILL the worker's main process and its pool process (its own process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


@dataclass
class Steps:
    """What the event log says of the runs' steps; a step is (run id, step key)."""

    starts: dict = field(default_factory=dict)  # step -> timestamps of its STEP_STARTs
    ended: dict = field(default_factory=dict)  # step -> "STEP_SUCCESS" / "STEP_FAILURE"
    taken: dict = field(default_factory=dict)  # step -> names of the workers that took it, in order
    spans: dict = field(default_factory=dict)  # step -> (last start, end) timestamps
    pids: dict = field(default_factory=dict)  # step -> the processes that started it

    def running_on(self, worker: str) -> list[tuple[str, str]]:
        return [step for step, workers in self.taken.items()
                if workers[-1] == worker and len(self.starts.get(step, [])) == len(workers) and step not in self.ended]

    def finished_by(self, worker: str) -> list[tuple[str, str]]:
        return [step for step, workers in self.taken.items()
                if workers[-1] == worker and self.ended.get(step) == "STEP_SUCCESS"]


def read_steps(instance: dg.DagsterInstance, run_ids: list[str]) -> Steps:
    steps = Steps()
    for run_id in run_ids:
        for record in instance.all_logs(run_id, of_type=STEP_EVENTS):
            event = record.dagster_event
            step = (run_id, event.step_key)
            if event.event_type == dg.DagsterEventType.STEP_START:
                steps.starts.setdefault(step, []).append(record.timestamp)
                steps.pids.setdefault(step, []).append(event.pid)
                steps.spans[step] = (record.timestamp, None)
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                steps.ended[step] = event.event_type_value
                steps.spans[step] = (steps.spans[step][0], record.timestamp)
            elif event.step_key and event.engine_event_data and "Celery worker" in event.engine_event_data.metadata:
                # dagster-celery's task names the worker that took the step, before running it
                worker = event.engine_event_data.metadata["Celery worker"].value
                steps.taken.setdefault(step, []).append(worker.split("@")[0])
    return steps


def start_worker(name: str, env: dict[str, str], folder: Path) -> Worker:
    """One worker, one step at a time, its own cache of the bucket, its own process group."""
    log = folder / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "parallax_pipeline.celery_app", "worker", "--concurrency", "1",
         "--pool", "prefork", "--hostname", f"{name}@%h", "--loglevel", "INFO", "--logfile", str(log),
         "--without-gossip", "--without-mingle"],
        cwd=REPO, env={**env, "PARALLAX_CACHE_DIR": str(folder / f"{name}-cache")},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return Worker(name, process, log)


def start_run(partition: str, env: dict[str, str], folder: Path) -> subprocess.Popen:
    """A run of one scene partition in its own process, as a run launcher starts one: with
    PARALLAX_EXECUTOR=celery its steps go to the queue. Its output goes to a file."""
    with open(folder / f"run-{partition.replace('|', '-')}.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "parallax_pipeline.definitions",
             "--select", ",".join(ASSETS), "--partition", partition],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )


def tails(paths: list[Path], size: int = 3000) -> dict[str, str]:
    return {path.name: path.read_text(errors="replace")[-size:] for path in paths if path.is_file()}


def wait_until(condition, what: str, deadline: float, interval: float = 0.2, about=lambda: ""):
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} {about()}")
        time.sleep(interval)


def materialized_and_built(instance: dg.DagsterInstance) -> tuple[dict, dict]:
    """(asset, partition) -> materializations, and -> those that built their artifact (a
    cache miss: not reused from an earlier attempt or an identical recipe)."""
    materialized, built = Counter(), Counter()
    for asset in ASSETS:
        for record in instance.fetch_materializations(dg.AssetKey(asset), limit=100).records:
            materialized[(asset, record.partition_key)] += 1
            built[(asset, record.partition_key)] += record.asset_materialization.metadata["cache"].value.startswith("miss")
    return dict(materialized), dict(built)


def write_project(folder: Path) -> None:
    write_small_project(folder, [scene for scene, _ in SCENES])  # a distinct demo image each
    lines = ["output: {resolution: [320, 180], fps: 24, quality: draft}", "scenes:"]
    for scene, seconds in SCENES:
        lines.append(f"- {{id: {scene}, image: images/{scene}.jpg, depth: depth/{scene}.png, duration: {seconds}}}")
    lines.append("audio: {music: audio/music.mp3}")
    (folder / "project.yaml").write_text("\n".join(lines) + "\n")


def test_two_workers_render_every_scene_once_and_a_killed_worker_loses_nothing(postgres, s3, tmp_path):
    started = time.monotonic()
    deadline = started + DEADLINE
    home = write_postgres_home(tmp_path / "dagster_home", postgres, postgres_database_name())
    bucket = s3.new_bucket()
    store_url = f"s3://{bucket}/studio"
    write_project(tmp_path / "projects" / PROJECT)
    env = {
        **os.environ,
        **s3.env(),
        "DAGSTER_HOME": str(home),
        "PARALLAX_EXECUTOR": "celery",
        "PARALLAX_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "PARALLAX_CELERY_RESTORE_INTERVAL": "1",
        "PARALLAX_PROJECTS_DIR": str(tmp_path / "projects"),
        "PARALLAX_STORAGE_DIR": store_url,
        "PARALLAX_RENDERS_DIR": str(tmp_path / "renders"),
        "PARALLAX_DEVICE": "cpu",
        "PARALLAX_CACHE_DIR": str(tmp_path / "runs-cache"),
    }
    redis = start_redis()
    workers: list[Worker] = []
    runs: list[subprocess.Popen] = []
    try:
        env.update(PARALLAX_CELERY_BROKER=redis.url(0), PARALLAX_CELERY_BACKEND=redis.url(1))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions("projects", [PROJECT])
            instance.add_dynamic_partitions("scene_positions", [f"{index + 1:03d}" for index in range(len(SCENES))])
            # Set before the runs, not left to the default limit: runs that start together on
            # a fresh PostgreSQL instance each initialise a default-limit pool, and all but one
            # fail (Dagster 1.13.27: InFailedSqlTransaction, dagster-io/dagster#33552).
            instance.event_log_storage.set_concurrency_slots("gpu", GPU_SLOTS)
            # The runs first: their steps wait on the queue, so both workers find work at
            # once when they come up.
            runs = [start_run(partition, env, tmp_path) for partition in PARTITIONS]

            def submitted():
                found = instance.get_runs(limit=10)
                assert all(run.poll() is None for run in runs), tails(sorted(tmp_path.glob("run-*.log")))
                if len(found) < len(PARTITIONS) or any(run.status != dg.DagsterRunStatus.STARTED for run in found):
                    return None
                ids = [run.run_id for run in found]
                queued = sum("Submitting celery task" in (record.dagster_event.message or "")
                             for run_id in ids for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT))
                return ids if queued >= GPU_SLOTS else None

            run_ids = wait_until(submitted, "the runs to queue their first steps", deadline,
                                 about=lambda: [(run.status, run.tags.get("dagster/partition")) for run in instance.get_runs()])
            workers = [start_worker(name, env, tmp_path) for name in ("w1", "w2")]

            # The kill: a worker that has finished a step of its own is rendering a clip
            # (its STEP_START is in the event log, its end is not).
            def rendering_worker():
                steps = read_steps(instance, run_ids)
                for worker in workers:
                    clips = [step for step in steps.running_on(worker.name) if step[1] == "parallax_clip"]
                    if clips and steps.finished_by(worker.name):
                        return worker, clips[0], steps
                return None

            killed, killed_step, before = wait_until(rendering_worker, "a worker to render a clip", deadline, 0.05)
            killed.kill()
            killed_at = time.monotonic() - started
            survivor = next(worker for worker in workers if worker is not killed)
            assert killed_step not in read_steps(instance, run_ids).ended, "the clip ended before the kill"

            for run in runs:
                try:
                    run.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"the runs did not finish within {DEADLINE} s "
                                         f"(killed {killed.name} at {killed_at:.0f} s)") from None
            statuses = {run.tags["dagster/partition"]: run.status for run in map(instance.get_run_by_id, run_ids)}
            assert statuses == {partition: dg.DagsterRunStatus.SUCCESS for partition in PARTITIONS}, tails(
                sorted(tmp_path.glob("run-*.log")))
            assert [run.returncode for run in runs] == [0] * len(runs)
            assert survivor.alive()

            steps = read_steps(instance, run_ids)
            every_step = {(run_id, asset) for run_id in run_ids for asset in ASSETS}
            assert steps.ended == {step: "STEP_SUCCESS" for step in every_step}
            # The killed clip was started again, by the survivor, after the visibility
            # timeout: the run waited for it, it was not lost.
            assert steps.taken[killed_step] == [killed.name, survivor.name]
            assert len(steps.starts[killed_step]) == 2
            restarted_after = steps.starts[killed_step][1] - steps.starts[killed_step][0]
            assert restarted_after >= VISIBILITY_TIMEOUT / 2, "handed out again before the visibility timeout"
            # Every other step ran once, on one worker: none was handed out twice, and none
            # that the killed worker had finished was done again.
            others = every_step - {killed_step}
            assert {step: len(steps.starts[step]) for step in others} == {step: 1 for step in others}
            assert {step: len(steps.taken[step]) for step in others} == {step: 1 for step in others}
            assert set(before.finished_by(killed.name)) <= set(steps.finished_by(killed.name))
            # Both workers rendered (the killed one finished steps before it died).
            assert before.finished_by(killed.name) and steps.finished_by(survivor.name)

            # Each scene's depth map and clip: materialized once, and built once (a cache
            # miss), not reused from a first attempt nor built a second time.
            once = {(asset, partition): 1 for asset in ASSETS for partition in PARTITIONS}
            assert materialized_and_built(instance) == (once, once)

            # In parallel: steps finished by the two workers ran at the same time.
            overlap = max(min(a_end, b_end) - max(a_start, b_start)
                          for a, (a_start, a_end) in steps.spans.items()
                          for b, (b_start, b_end) in steps.spans.items()
                          if steps.taken[a][-1] != steps.taken[b][-1] and killed_step not in (a, b))
            assert overlap > 0, steps.spans
            print(f"\n{len(every_step)} steps: {killed.name} killed at {killed_at:.1f} s in {killed_step[1]}, "
                  f"restarted {restarted_after:.1f} s after its first start; the workers' steps overlapped "
                  f"by up to {overlap:.1f} s; runs done at {time.monotonic() - started:.1f} s")

            # The survivor's pool process (the one running the step) dies mid-clip, as under
            # the OOM killer: the worker gives the step back at once (task_reject_on_worker_lost),
            # its new pool process runs it again, without waiting for the visibility timeout.
            late = start_run(LATE_PARTITION, env, tmp_path)
            runs.append(late)
            late_id = wait_until(lambda: next((run.run_id for run in instance.get_runs(limit=10)
                                               if run.tags.get("dagster/partition") == LATE_PARTITION), None),
                                 "the late run", deadline)
            late_clip = (late_id, "parallax_clip")
            pool_process = wait_until(lambda: read_steps(instance, [late_id]).pids.get(late_clip, [None])[0],
                                      "the late clip to start", deadline, 0.05)
            assert os.getpgid(pool_process) == survivor.process.pid != pool_process, "not the survivor's pool process"
            os.kill(pool_process, signal.SIGKILL)
            assert late_clip not in read_steps(instance, [late_id]).ended, "the clip ended before the kill"
            try:
                late.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AssertionError("the late run did not finish after its pool process was killed") from None
            assert instance.get_run_by_id(late_id).status == dg.DagsterRunStatus.SUCCESS, tails(
                sorted(tmp_path.glob("run-*.log")) + [survivor.log])
            assert survivor.alive()
            late_steps = read_steps(instance, [late_id])
            assert late_steps.ended == {(late_id, asset): "STEP_SUCCESS" for asset in ASSETS}
            assert late_steps.taken[late_clip] == [survivor.name, survivor.name]
            assert len(late_steps.pids[late_clip]) == 2 and late_steps.pids[late_clip][1] != pool_process
            given_back_after = late_steps.starts[late_clip][1] - late_steps.starts[late_clip][0]
            assert given_back_after < VISIBILITY_TIMEOUT / 2, "waited for the visibility timeout"
            assert len(late_steps.starts[(late_id, "depth_map")]) == 1
            once = {(asset, partition): 1 for asset in ASSETS for partition in [*PARTITIONS, LATE_PARTITION]}
            # s5's picture and depth map are s1's (write_small_project borrows 4 demo scenes):
            # its depth map is s1's artifact from the bucket, not built again.
            assert materialized_and_built(instance) == (once, {**once, ("depth_map", LATE_PARTITION): 0})
            print(f"pool process killed mid-clip: started again {given_back_after:.1f} s after its first start; "
                  f"done at {time.monotonic() - started:.1f} s")

        # The artifacts are in the bucket: loaded through a fresh cache (another machine),
        # every object fetched and its hash checked.
        reader = ContentStore(store_url, cache=tmp_path / "reader-cache")
        for asset in ASSETS:
            for partition in [*PARTITIONS, LATE_PARTITION]:
                artifact = reader.load(asset, partition)
                assert artifact is not None and artifact.files, (asset, partition)
                assert all(path.is_file() and path.stat().st_size for path in artifact.files.values())
    except BaseException:
        print("worker logs:", tails([worker.log for worker in workers]))
        raise
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
        for worker in workers:
            if worker.alive():
                worker.kill()
        redis.stop()
