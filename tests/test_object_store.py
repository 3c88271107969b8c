"""The content store in an S3 bucket, against a real S3-protocol server on loopback (moto):
objects named by SHA-256 and written once (conditional PUT), checked on read, streamed in
parts, cached by hash on each machine; and the whole pipeline, `parallax run` included, on
a bucket with SQLite and with PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import botocore.exceptions
import pytest

from parallax_pipeline.runner import settle
from parallax_pipeline.store import ContentStore, DamagedArtifact, StoreError
from tests.conftest import postgres_database_name, write_small_project
from tests.postgres_server import POSTGRES_SETTINGS

PARALLAX = Path(sys.executable).with_name("parallax")


def _writer(files: dict[str, bytes]):
    def build(folder: Path) -> dict:
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return {"made": sorted(files)}

    return build


def _object_key(data: bytes, suffix: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"objects/{digest[:2]}/{digest}{suffix}"


def test_artifacts_go_to_the_bucket_by_hash_and_each_machine_caches_them(s3, tmp_path):
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/studio"
    depth, preview = os.urandom(50_000), os.urandom(3_000)
    store = ContentStore(url, cache=tmp_path / "worker-1")
    artifact = store.put("depth_map", "recipe1", _writer({"depth.npy": depth, "preview.png": preview}))
    store.point("depth_map", "trip|001", artifact)
    assert s3.keys(bucket) == {
        f"studio/{_object_key(depth, '.npy')}": len(depth),
        f"studio/{_object_key(preview, '.png')}": len(preview),
        "studio/recipes/depth_map/recipe1.json": s3.keys(bucket)["studio/recipes/depth_map/recipe1.json"],
        "studio/partitions/depth_map/trip/001.json": s3.keys(bucket)["studio/partitions/depth_map/trip/001.json"],
    }
    # the building machine kept its own copies
    assert (tmp_path / "worker-1" / _object_key(depth, ".npy")).read_bytes() == depth

    other = ContentStore(url, cache=tmp_path / "worker-2")  # another machine: fetches, checks, caches
    loaded = other.load("depth_map", "trip|001")
    assert loaded.info == {"made": ["depth.npy", "preview.png"]}
    assert loaded.path("depth.npy") == tmp_path / "worker-2" / _object_key(depth, ".npy")
    assert loaded.path("depth.npy").read_bytes() == depth and loaded.path("preview.png").read_bytes() == preview
    assert other.cached("depth_map", "recipe1").recipe == "recipe1"

    s3.client().delete_object(Bucket=bucket, Key=f"studio/{_object_key(depth, '.npy')}")
    # a machine that has the object cached by its hash does not fetch it again ...
    assert ContentStore(url, cache=tmp_path / "worker-2").load("depth_map", "trip|001").path("depth.npy").read_bytes() == depth
    # ... one that has not finds it missing: never made, so it is built again
    third = ContentStore(url, cache=tmp_path / "worker-3")
    assert not third.has("depth_map", "trip|001") and third.load("depth_map", "trip|001") is None


def test_objects_are_written_once_and_damage_in_the_bucket_is_found_dropped_and_rebuilt(s3, tmp_path):
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/studio"
    clip = os.urandom(20_000)
    key = f"studio/{_object_key(clip, '.mp4')}"
    store = ContentStore(url, cache=tmp_path / "a")
    store.point("parallax_clip", "trip|001", store.put("parallax_clip", "r1", _writer({"clip.mp4": clip})))
    client = s3.client()
    # the server honours If-None-Match: the store's write-once rests on it
    with pytest.raises(botocore.exceptions.ClientError, match="PreconditionFailed"):
        client.put_object(Bucket=bucket, Key=key, Body=b"other bytes", IfNoneMatch="*")
    client.put_object(Bucket=bucket, Key=key, Body=b"rotten" + clip[6:])  # damage, behind the store's back

    writer = ContentStore(url, cache=tmp_path / "b")
    writer.put("parallax_clip", "r2", _writer({"clip.mp4": clip}))  # the same bytes again: not overwritten
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read().startswith(b"rotten")

    reader = ContentStore(url, cache=tmp_path / "c")
    with pytest.raises(DamagedArtifact, match=r"parallax_clip \[trip\|001\]: stored object objects/.*\.mp4 is damaged"):
        reader.load("parallax_clip", "trip|001")
    assert key not in s3.keys(bucket) and "studio/partitions/parallax_clip/trip/001.json" not in s3.keys(bucket)
    assert not list((tmp_path / "c" / "objects").rglob("*.mp4")), "the damaged download was kept"
    assert reader.cached("parallax_clip", "r2") is None  # its record named the damaged object

    artifact, hit = reader.get_or_build("parallax_clip", "r2", _writer({"clip.mp4": clip}))
    assert not hit and client.get_object(Bucket=bucket, Key=key)["Body"].read() == clip
    assert artifact.path("clip.mp4").read_bytes() == clip


def test_a_damaged_local_copy_is_fetched_again_not_trusted(s3, tmp_path):
    bucket = s3.new_bucket()
    url = f"s3://{bucket}"
    data = os.urandom(10_000)
    store = ContentStore(url, cache=tmp_path / "cache")
    store.point("mixed_audio", "trip", store.put("mixed_audio", "r", _writer({"mix.wav": data})))
    copy = tmp_path / "cache" / _object_key(data, ".wav")
    copy.write_bytes(b"x" * len(data))
    assert ContentStore(url, cache=tmp_path / "cache").load("mixed_audio", "trip").path("mix.wav").read_bytes() == data
    assert copy.read_bytes() == data and _object_key(data, ".wav") in s3.keys(bucket)


def test_big_files_stream_in_parts_never_whole_in_memory(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("PARALLAX_S3_PART_MB", "5")
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/big"
    size = 64 * 1024 * 1024

    def build(folder: Path) -> dict:
        with open(folder / "clip.mp4", "wb") as handle:
            for _ in range(size // (1024 * 1024)):
                handle.write(os.urandom(1024 * 1024))
        return {}

    tracemalloc.start()
    try:
        store = ContentStore(url, cache=tmp_path / "a")
        artifact = store.put("parallax_clip", "big", build)
        store.point("parallax_clip", "trip|001", artifact)
        uploaded = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        fetched = ContentStore(url, cache=tmp_path / "b").load("parallax_clip", "trip|001")
        downloaded = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    key = artifact.path("clip.mp4").relative_to(tmp_path / "a").as_posix()
    head = s3.client().head_object(Bucket=bucket, Key=f"big/{key}")
    assert head["ContentLength"] == size and head["ETag"].strip('"').endswith("-13")  # 13 parts of at most 5 MiB
    assert fetched.path("clip.mp4").stat().st_size == size
    assert hashlib.sha256(fetched.path("clip.mp4").read_bytes()).hexdigest() == Path(key).stem
    # a few parts' worth at most (here about 22 and 14 MiB), never the 64 MiB file
    assert uploaded < 32 * 1024 * 1024 and downloaded < 32 * 1024 * 1024, (uploaded, downloaded)


def test_verify_and_prune_work_on_the_bucket(s3, tmp_path):
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/studio"
    store = ContentStore(url, cache=tmp_path / "cache")
    old, new = os.urandom(4_000), os.urandom(4_000)
    store.put("depth_map", "old", _writer({"depth.npy": old}))
    store.point("depth_map", "trip|001", store.put("depth_map", "new", _writer({"depth.npy": new})))
    assert store.verify() == []
    pruned = store.prune(max_bytes=0)
    assert [path.name for path in pruned] == [Path(_object_key(old, ".npy")).name]
    keys = s3.keys(bucket)
    assert f"studio/{_object_key(old, '.npy')}" not in keys and "studio/recipes/depth_map/old.json" not in keys
    assert f"studio/{_object_key(new, '.npy')}" in keys and "studio/recipes/depth_map/new.json" in keys
    assert not list((tmp_path / "cache" / "objects").rglob("*.npy")), "the local copies are bounded too"

    s3.client().put_object(Bucket=bucket, Key=f"studio/{_object_key(new, '.npy')}", Body=b"rot")
    problems = store.verify()
    assert f"depth_map [trip|001]: {_object_key(new, '.npy')} is damaged (its bytes no longer match its name)" in problems
    store.verify(repair=True)
    assert store.verify() == [] and "studio/partitions/depth_map/trip/001.json" not in s3.keys(bucket)


def test_a_missing_bucket_or_a_silent_endpoint_is_named(s3, tmp_path, monkeypatch):
    store = ContentStore("s3://parallax-no-such-bucket/studio", cache=tmp_path / "cache")
    with pytest.raises(StoreError, match=r"s3://parallax-no-such-bucket/studio/objects/.*: uploading failed at http://127\.0\.0\.1:\d+: NoSuchBucket"):
        store.put("depth_map", "r", _writer({"depth.npy": b"x"}))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(StoreError, match=r"s3://parallax-no-such-bucket/studio/partitions/depth_map/trip/001.json: reading failed \(http://127.0.0.1:9\): Could not connect"):
        ContentStore("s3://parallax-no-such-bucket/studio", cache=tmp_path / "cache").has("depth_map", "trip|001")
    with pytest.raises(StoreError, match="ftp://host/x: unsupported store location"):
        ContentStore("ftp://host/x")


@pytest.mark.parametrize("studio", ["sqlite", "postgres"], indirect=True)
def test_the_pipeline_on_a_bucket(studio, s3):
    bucket = s3.new_bucket()
    studio.storage = f"s3://{bucket}/studio"
    write_small_project(studio.projects / "trip", ["alpha", "beta"])
    defs = studio.defs()
    report = settle(defs, studio.instance)
    assert report.succeeded and report.up_to_date, (report.failures, report.stale)
    assert (studio.renders / "trip.mp4").is_file()
    keys = s3.keys(bucket, "studio/")
    records = {key for key in keys if key.startswith("studio/partitions/")}
    assert {key.split("/")[2] for key in records} == {"depth_map", "parallax_clip", "composed_video", "mixed_audio", "final_video"}
    assert sum(key.startswith("studio/objects/") for key in keys) >= 8
    mark = studio.mark()
    assert settle(defs, studio.instance).up_to_date and studio.materialized_since(mark) == {}


def test_parallax_run_on_postgres_and_a_bucket_and_again_from_another_machine(postgres, s3, tmp_path):
    """The issue's "done when": DAGSTER_HOME with the shipped Postgres dagster.yaml, the
    store in a bucket: the demo renders, its objects are in the bucket, its runs in
    Postgres; a second `parallax run` with nothing changed, on a machine with an empty
    cache, does nothing."""
    database = postgres.create_database(postgres_database_name())
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(POSTGRES_SETTINGS.read_text())  # verbatim: read from the variables
    bucket = s3.new_bucket()
    write_small_project(tmp_path / "projects" / "trip", ["alpha", "beta", "gamma"])
    env = {
        **os.environ, **s3.env(), **postgres.env(database),
        "DAGSTER_HOME": str(home),
        "PARALLAX_STORAGE_DIR": f"s3://{bucket}/studio",
        "PARALLAX_CACHE_DIR": str(tmp_path / "machine-1"),
        "PARALLAX_RENDERS_DIR": str(tmp_path / "renders"),
    }
    command = [str(PARALLAX), "run", "--projects", str(tmp_path / "projects")]
    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "renders" / "trip.mp4").is_file()
    runs = postgres.query(database, "SELECT status FROM runs")
    assert f"\n{len(runs)} runs;" in first.stdout and {status for (status,) in runs} == {"SUCCESS"}
    keys = s3.keys(bucket, "studio/")
    pointed = [key for key in keys if key.startswith("studio/partitions/final_video/")]
    assert pointed == ["studio/partitions/final_video/trip.json"]
    assert all(key in keys for key in _objects_named(s3, bucket, pointed[0]))

    env["PARALLAX_CACHE_DIR"] = str(tmp_path / "machine-2")
    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "\n0 runs;" in second.stdout
    assert len(postgres.query(database, "SELECT run_id FROM runs")) == len(runs)


def _objects_named(s3, bucket: str, record: str) -> list[str]:
    import json

    files = json.loads(s3.client().get_object(Bucket=bucket, Key=record)["Body"].read())["files"]
    assert files, record
    return [f"studio/{name}" for name in files.values()]
