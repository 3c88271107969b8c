"""Nothing lost, nothing stale, nothing silent: `parallax run` killed at any point, dead
runs holding pool slots, two runs at once, damaged store objects, leftovers of dead
processes. Real processes, real SIGKILL, real files; the kills and the pool waits on
SQLite and on PostgreSQL (pool slots live in each one's own tables)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from parallax_pipeline.cli import prepare_dagster_home
from parallax_pipeline.engine.video.codec import read_frames
from parallax_pipeline.recovery import HOST_TAG, PID_TAG, STARTED_TAG, process_tags
from parallax_pipeline.runner import settle
from parallax_pipeline.store import ContentStore
from tests.conftest import started_run, postgres_database_name, write_small_project
from tests.postgres_server import PostgresServer, write_postgres_home

PARALLAX = Path(sys.executable).with_name("parallax")
SCENES = ["alpha", "beta"]
PROJECT_FILE = (
    "output: {resolution: [320, 180], fps: 24, quality: draft}\n"
    "defaults: {duration: 1.0, transition: {type: dissolve, duration: 0.25}}\n"
)


class Workspace:
    """A projects folder, store, renders folder and DAGSTER_HOME for `parallax run`."""

    def __init__(self, root: Path, built: Workspace | None = None, postgres: PostgresServer | None = None):
        self.root = root
        if built is None:
            project = write_small_project(root / "projects" / "trip", SCENES)
            # a dissolve, so the scenes keep lossless transition frames (head.npy, tail.npy)
            (project / "project.yaml").write_text(PROJECT_FILE)
        else:  # a copy of a built one (the store's records are relative to the store)
            shutil.copytree(built.root, root, dirs_exist_ok=True)
        if postgres is not None:  # a fresh database; prepare_dagster_home keeps its dagster.yaml
            assert built is None, "a copy would share the built workspace's database"
            write_postgres_home(root / "home", postgres, postgres_database_name(), max_runs=1)
        self.home = prepare_dagster_home(root / "home")
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "PARALLAX_PROJECTS_DIR": str(root / "projects"),
            "PARALLAX_STORAGE_DIR": str(root / "storage"),
            "PARALLAX_RENDERS_DIR": str(root / "renders"),
            # one run at a time: the kill points below come in one order
            "PARALLAX_MAX_RUNS": "1",
        }

    @property
    def video(self) -> Path:
        return self.root / "renders" / "trip.mp4"

    @property
    def store(self) -> ContentStore:
        return ContentStore(self.root / "storage")

    def command(self) -> list[str]:
        return [str(PARALLAX), "run", "--projects", str(self.root / "projects")]

    def run(self, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout,
            preexec_fn=lambda: os.umask(0o022),
        )

    def start(self, log: Path) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(), cwd=self.root, env=self.env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.umask(0o022),
        )

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


def _frames(video: Path) -> list[np.ndarray]:
    return list(read_frames(video))


def _same_video(a: Path, b: Path) -> None:
    first, second = _frames(a), _frames(b)
    assert len(first) == len(second) > 0
    for index, (x, y) in enumerate(zip(first, second)):
        assert np.array_equal(x, y), f"frame {index} differs"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Workspace:
    """An uninterrupted build; its final video is what every recovery must reproduce."""
    workspace = Workspace(tmp_path_factory.mktemp("clean"))
    result = workspace.run()
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace


@pytest.fixture
def clean_build(built) -> Path:
    return built.video


def _kill_when(process: subprocess.Popen, log: Path, marker: str, timeout: float = 240) -> bool:
    """SIGKILL ``process`` as soon as ``marker`` appears in its output; False when it
    ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker in log.read_text(errors="replace"):
            process.kill()
            process.wait()
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"{marker!r} never appeared:\n{log.read_text()[-3000:]}")


# Points of a two-scene build, in the order they come: the start of a depth + clip run,
# the end of a clip's frames (encoding and storing follow), the mix, the composition,
# its last frames (the final mux follows), and the publishing of the final video.
KILL_POINTS = [
    "[sensor] depth_map, parallax_clip [trip|001]: run",
    "trip/alpha: frame 24/24",
    "mixed_audio [trip]: run",
    "composed_video - trip: composed",
    "composed 42/42 frames",
    "final video published",
]


BOTH_INSTANCES = pytest.mark.parametrize("kind", ["sqlite", "postgres"])


def _fresh_workspace(root: Path, kind: str, request) -> Workspace:
    return Workspace(root, postgres=request.getfixturevalue("postgres") if kind == "postgres" else None)


@BOTH_INSTANCES
def test_killed_at_every_point_a_rerun_ends_with_the_clean_video(tmp_path, clean_build, kind, request):
    workspace = _fresh_workspace(tmp_path, kind, request)
    killed = []
    for number, marker in enumerate(KILL_POINTS):
        log = tmp_path / f"killed-{number}.log"
        if _kill_when(workspace.start(log), log, marker):
            killed.append(marker)
    assert killed == KILL_POINTS, f"only killed at {killed}"
    with workspace.instance() as instance:
        stuck = [run.run_id for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))]
    assert stuck, "a killed run is left STARTED (what recovery must mend)"

    result = workspace.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "orphaned" in result.stdout
    assert f"video: {workspace.video}" in result.stdout
    _same_video(workspace.video, clean_build)
    with workspace.instance() as instance:
        assert not instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert {instance.get_run_by_id(run_id).status for run_id in stuck} == {dg.DagsterRunStatus.FAILURE}
        storage = instance.event_log_storage
        assert not any(storage.get_concurrency_info(pool).claimed_slots for pool in storage.get_concurrency_keys())
    assert not list((workspace.root / "storage" / "staging").iterdir()), "staging left behind"
    again = workspace.run()
    assert again.returncode == 0 and "\n0 runs" in again.stdout, again.stdout


def _hold_gpu_slot(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    """A STARTED run holding the `gpu` pool's one slot, as a render in progress would."""
    run_id = started_run(instance, tags)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("gpu")
    claim = storage.claim_concurrency_slot("gpu", run_id, "depth_map")
    assert claim.is_claimed
    return run_id


@BOTH_INSTANCES
def test_a_run_waiting_on_a_pool_says_so_and_stops_on_sigterm_and_a_dead_holder_frees_it(tmp_path, kind, request):
    workspace = _fresh_workspace(tmp_path, kind, request)
    with workspace.instance() as instance:
        holder = _hold_gpu_slot(instance, process_tags())  # this test process: alive
    log = tmp_path / "waiting.log"
    process = workspace.start(log)
    try:
        deadline = time.monotonic() + 120
        while "waiting for a slot of pool 'gpu'" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert holder[:8] in log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) != 0
    finally:
        process.kill()
    assert "interrupted" in log.read_text()

    # the holder's process is gone (a pid that is not running): the next run frees the slot
    with workspace.instance() as instance:
        run = instance.get_run_by_id(holder)
        instance.add_run_tags(holder, {PID_TAG: "999999", HOST_TAG: run.tags[HOST_TAG], STARTED_TAG: "1"})
    result = workspace.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"run {holder} was orphaned" in result.stdout
    with workspace.instance() as instance:
        assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.FAILURE


def test_two_runs_at_once_do_the_work_once(tmp_path, built, clean_build):
    workspace = Workspace(tmp_path)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    processes = [workspace.start(logs[0])]
    time.sleep(0.5)
    processes.append(workspace.start(logs[1]))
    assert [p.wait(timeout=300) for p in processes] == [0, 0], [log.read_text()[-2000:] for log in logs]
    outputs = [log.read_text() for log in logs]
    waited = [out for out in outputs if "waiting for the other `parallax run`" in out]
    assert len(waited) == 1 and "\n0 runs" in waited[0], outputs
    _same_video(workspace.video, clean_build)
    with workspace.instance() as together, built.instance() as alone:
        assert len(together.get_runs()) == len(alone.get_runs())  # the runs of one build, not two


def test_dead_processes_leftovers_are_swept_and_live_ones_kept(tmp_path):
    workspace = Workspace(tmp_path)
    staging = workspace.root / "storage" / "staging"
    dead = staging / "depth_map-999999-abcd1234"
    live = staging / f"depth_map-{os.getpid()}-abcd1234"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "depth.npy").write_bytes(b"half a file")
    segments = workspace.root / "storage" / "segments" / "ab"
    segments.mkdir(parents=True)
    (segments / ".abcd.tmp-999999-00ff00ff.mp4").write_bytes(b"half a segment")
    result = workspace.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not dead.exists() and live.is_dir()
    assert not list(segments.glob(".*.tmp-999999-*"))


def test_published_files_and_store_records_respect_the_umask(built):
    workspace = built  # made by `parallax run` under umask 022
    storage = workspace.root / "storage"
    files = [workspace.video, *storage.glob("objects/*/*"), *storage.glob("partitions/**/*.json"), *storage.glob("recipes/**/*.json")]
    assert {".png", ".npy", ".mp4", ".wav", ".json"} <= {f.suffix for f in files}
    modes = {f.name: oct(f.stat().st_mode & 0o777) for f in files}
    assert set(modes.values()) == {"0o644"}, modes


# ----------------------------------------------------------------------------- damage


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0x5A for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "asset,partition,role",
    [
        ("depth_map", "trip|001", "depth.png"),
        ("depth_map", "trip|002", "depth.npy"),
        ("parallax_clip", "trip|001", "solo.mp4"),
        ("parallax_clip", "trip|002", "head.npy"),
        ("parallax_clip", "trip|001", "tail.npy"),
        ("composed_video", "trip", "video.mp4"),
        ("mixed_audio", "trip", "mix.wav"),
        ("final_video", "trip", "final.mp4"),
    ],
)
def test_a_damaged_object_is_found_dropped_and_rebuilt(tmp_path, built, clean_build, asset, partition, role):
    workspace = Workspace(tmp_path, built)
    defs_env = {key: workspace.env[key] for key in ("PARALLAX_PROJECTS_DIR", "PARALLAX_STORAGE_DIR", "PARALLAX_RENDERS_DIR")}
    from parallax_pipeline.definitions import build_definitions

    defs = build_definitions(
        projects=defs_env["PARALLAX_PROJECTS_DIR"],
        storage=defs_env["PARALLAX_STORAGE_DIR"],
        renders=defs_env["PARALLAX_RENDERS_DIR"],
        device="cpu",
    )
    with workspace.instance() as instance:
        assert settle(defs, instance, retry_failed=True).up_to_date  # the copy is current: nothing runs
        store = workspace.store
        damaged = store.load(asset, partition).path(role)
        _flip(damaged)
        problems = store.verify()
        assert any(f"{asset} [{partition}]" in p and "damaged" in p for p in problems), problems
        store.verify(repair=True)
        assert store.verify() == [] and not damaged.exists()
        report = settle(defs, instance, retry_failed=True)
        assert report.up_to_date, (report.failures, report.stale)
    assert workspace.store.load(asset, partition).path(role).is_file()
    _same_video(workspace.video, clean_build)


def test_damage_found_on_read_names_the_asset_and_partition_and_heals_on_the_next_round(tmp_path, built):
    """No `verify`: an edit makes the clip read its damaged depth map; the run reports
    the depth map by asset and partition, drops it, and the same `parallax run` rebuilds it."""
    workspace = Workspace(tmp_path, built)
    depth = workspace.store.load("depth_map", "trip|001").path("depth.npy")
    original = np.load(depth)
    np.save(depth.with_suffix(".tmp.npy"), np.full((4, 4), 0.5, np.float32))  # in range, wrong data
    shutil.move(depth.with_suffix(".tmp.npy"), depth)
    project = workspace.root / "projects" / "trip" / "project.yaml"
    project.write_text(PROJECT_FILE.replace("duration: 1.0,", "duration: 1.0, motion: {preset: pan_left},"))
    result = workspace.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "depth_map [trip|001]" in result.stdout + result.stderr and "damaged" in result.stdout + result.stderr
    assert workspace.store.verify() == []
    rebuilt = np.load(workspace.store.load("depth_map", "trip|001").path("depth.npy"))
    np.testing.assert_array_equal(rebuilt, original)  # made again from the inputs, not the damaged bytes


def test_a_damaged_final_video_is_not_republished_from_the_cache(tmp_path, built):
    workspace = Workspace(tmp_path, built)
    good = workspace.video.read_bytes()
    _flip(workspace.store.load("final_video", "trip").path("final.mp4"))
    music = workspace.root / "projects" / "trip" / "audio" / "music.mp3"
    original = music.read_bytes()
    music.write_bytes(original[: len(original) // 2])  # an edit ...
    assert workspace.run().returncode == 0
    music.write_bytes(original)  # ... and its revert: the cached final's recipe again
    result = workspace.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert workspace.video.read_bytes() == good


def test_verify_command_reports_and_repairs(tmp_path, built):
    workspace = Workspace(tmp_path, built)
    _flip(workspace.store.load("parallax_clip", "trip|002").path("solo.mp4"))
    verify = [str(PARALLAX), "verify"]
    found = subprocess.run(verify, env=workspace.env, capture_output=True, text=True)
    assert found.returncode == 1 and "parallax_clip [trip|002]" in found.stdout, found.stdout + found.stderr
    assert subprocess.run([*verify, "--repair"], env=workspace.env, capture_output=True).returncode == 1
    assert subprocess.run(verify, env=workspace.env, capture_output=True).returncode == 0
    result = workspace.run()
    assert result.returncode == 0 and f"video: {workspace.video}" in result.stdout, result.stdout + result.stderr


# ----------------------------------------------------------------------------- stale, never silent


def test_a_failed_scene_leaves_the_run_failing_and_naming_what_is_stale(tmp_path, built):
    workspace = Workspace(tmp_path, built)
    image = next((workspace.root / "projects" / "trip" / "images").glob("beta.*"))
    image.write_bytes(b"not a picture")
    for attempt in range(2):  # and again: never "0 runs", exit 0
        result = workspace.run()
        assert result.returncode == 1, result.stdout
        assert "stale: project 'trip'" in result.stderr and "parallax_clip [trip|002]" in result.stderr
        assert str(image) in result.stderr
        assert "video:" not in result.stdout


def test_the_store_keeps_what_partitions_use_and_prunes_old_cache(tmp_path, built):
    workspace = Workspace(tmp_path, built)
    store = workspace.store
    project = workspace.root / "projects" / "trip" / "project.yaml"
    project.write_text(PROJECT_FILE.replace("duration: 1.0,", "duration: 1.0, motion: {preset: pan_right},"))
    assert workspace.run().returncode == 0  # the earlier clips and videos stay, as cache
    objects = set((workspace.root / "storage" / "objects").glob("*/*"))
    pointed = {
        store.root / relative
        for record in (store.root / "partitions").rglob("*.json")
        for relative in json.loads(record.read_text())["files"].values()
    }
    assert objects - pointed, "an edit leaves the earlier artifacts as cache"
    assert set(store.prune(max_bytes=0)) == objects - pointed
    assert all(path.is_file() for path in pointed) and store.verify() == []
    result = workspace.run()  # nothing a partition uses was lost
    assert result.returncode == 0 and "\n0 runs" in result.stdout, result.stdout
