"""The whole pipeline on a real SQLite instance (and the key tests on PostgreSQL too): end to
end, incremental, bad input."""

from __future__ import annotations

import cv2
import dagster as dg
import numpy as np
import pytest

from parallax_pipeline.engine.video.codec import probe
from parallax_pipeline.runner import settle
from parallax_pipeline.spec import load_project
from tests.conftest import write_small_project

SCENE_ASSETS = {"depth_map", "parallax_clip"}


def _assets(counter) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for (asset, partition), _ in counter.items():
        found.setdefault(asset, set()).add(partition)
    return found


BOTH_INSTANCES = pytest.mark.parametrize("studio", ["sqlite", "postgres"], indirect=True)


@BOTH_INSTANCES
def test_demo_renders_end_to_end(studio):
    project = studio.add_demo()
    spec = load_project(project)
    report = settle(studio.defs(), studio.instance)
    assert report.succeeded, report.failures
    video = studio.renders / "demo.mp4"
    info = probe(video)
    assert (info.width, info.height) == spec.output.size
    assert info.fps == pytest.approx(spec.output.fps)
    assert abs(info.frames - spec.total_frames) <= 1
    assert info.duration == pytest.approx(spec.duration, abs=1.0 / spec.output.fps)
    assert info.audio_duration == pytest.approx(info.duration, abs=0.05)
    assert info.audio_rate == 48_000 and info.audio_channels == 2
    made = _assets(studio.materialized_since(0))
    scene_keys = {f"demo|{index + 1:03d}" for index in range(len(spec.scenes))}
    assert made["depth_map"] == scene_keys and made["parallax_clip"] == scene_keys
    assert made["composed_video"] == made["mixed_audio"] == made["final_video"] == {"demo"}
    if studio.postgres is not None:  # the runs and their events are in the server's database
        runs = studio.postgres.query(studio.database, "SELECT run_id, status FROM runs")
        assert sorted(runs) == sorted((run.run_id, "SUCCESS") for run in report.runs)
        (materialized,) = studio.postgres.query(
            studio.database, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        )[0]
        assert materialized == sum(studio.materialized_since(0).values())


def _edit_image(path):
    image = cv2.imread(str(path))
    cv2.rectangle(image, (40, 40), (200, 160), (0, 0, 255), -1)
    cv2.imwrite(str(path), image)


def _replace_music(path):
    """A different music track in the same format (a lower tone, quieter)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libmp3lame", rate=44_100, layout="stereo")
        t = np.arange(44_100 * 3) / 44_100
        tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate = 44_100
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@BOTH_INSTANCES
def test_only_what_changed_rematerialises(studio):
    project = studio.add_demo()
    spec = load_project(project)
    defs = studio.defs()
    assert settle(defs, studio.instance).succeeded

    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    assert studio.materialized_since(mark) == {}, "nothing changed, nothing may run"

    changed = spec.scenes[1]
    _edit_image(changed.image)
    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    made = _assets(studio.materialized_since(mark))
    assert made == {
        "depth_map": {"demo|002"},
        "parallax_clip": {"demo|002"},
        "composed_video": {"demo"},
        "final_video": {"demo"},
    }

    _replace_music(spec.audio.music)
    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    assert _assets(studio.materialized_since(mark)) == {"mixed_audio": {"demo"}, "final_video": {"demo"}}

    mark = studio.mark()
    assert settle(defs, studio.instance).succeeded
    assert studio.materialized_since(mark) == {}


def test_corrupt_image_fails_only_its_scene(studio):
    project = studio.add_demo()
    spec = load_project(project)
    defs = studio.defs()
    assert settle(defs, studio.instance).succeeded
    store = defs.resources["artifacts"].open()
    broken = spec.scenes[2]
    before = {key: store.load("parallax_clip", key) for key in (f"demo|{i + 1:03d}" for i in range(len(spec.scenes)))}
    published = (studio.renders / "demo.mp4").read_bytes()
    broken.image.write_bytes(b"this is not a jpeg at all")

    report = settle(defs, studio.instance)
    assert len(report.failures) >= 1
    assert any(str(broken.image) in failure for failure in report.failures), report.failures
    # The other scenes' artifacts are untouched; the broken scene keeps its last good clip.
    for key, artifact in before.items():
        assert store.load("parallax_clip", key) == artifact
        assert all(path.is_file() for path in artifact.files.values())
    assert (studio.renders / "demo.mp4").read_bytes() == published  # the last good video stays


def test_invalid_project_file_fails_only_its_project(studio):
    studio.add_demo("good")
    bad = studio.add_demo("bad")
    (bad / "project.yaml").write_text("output:\n  fps: 17\n")
    report = settle(studio.defs(), studio.instance)
    assert report.failures == []
    assert len(report.problems) == 1
    assert str(bad / "project.yaml") in report.problems[0] and "output.fps" in report.problems[0]
    assert (studio.renders / "good.mp4").is_file() and not (studio.renders / "bad.mp4").exists()


def test_path_escaping_the_project_is_refused(studio):
    studio.add_demo("good")
    bad = studio.add_demo("escape")
    (studio.projects / "secret.png").write_bytes(b"")
    (bad / "project.yaml").write_text("scenes:\n  - {id: one, image: ../secret.png}\n")
    report = settle(studio.defs(), studio.instance)
    assert len(report.problems) == 1
    assert "escapes the project folder" in report.problems[0] and "scenes.0.image" in report.problems[0]
    assert (studio.renders / "good.mp4").is_file()


def test_depth_map_from_a_model_folder(studio, tmp_path):
    """No depth file: the asset runs the real Depth Anything code path on a tiny random
    model saved to a folder and loaded by path."""
    from tests.conftest import write_small_project
    from tests.tiny_models import save_tiny_depth_anything

    studio.depth_model = str(save_tiny_depth_anything(tmp_path / "tiny-depth-anything", with_processor=True))
    folder = write_small_project(studio.projects / "nodepth", ["alpha"])
    for depth_file in (folder / "depth").iterdir():
        depth_file.unlink()
    defs = studio.defs()
    report = settle(defs, studio.instance)
    assert report.succeeded, report.failures
    artifact = defs.resources["artifacts"].open().load("depth_map", "nodepth|001")
    image = cv2.imread(str(next((folder / "images").iterdir())))
    disparity = np.load(artifact.path("depth.npy"))
    assert disparity.shape == image.shape[:2] and disparity.dtype == np.float32
    assert artifact.info["origin"] == "estimated" and artifact.info["model"] == studio.depth_model
    assert 0.0 <= disparity.min() < disparity.max() <= 1.0


def test_a_supplied_depth_map_gives_the_asset_and_the_render_command_one_disparity(studio):
    """A depth file at half the picture's size: the `depth_map` asset stores exactly the
    disparity `parallax render --depth-map` renders with (guided upsampling, values kept)."""
    from parallax_pipeline.cli import picture_disparity
    from parallax_pipeline.engine.depth.maps import read_depth_file, write_depth_png
    from parallax_pipeline.engine.parallax.images import load_image
    from tests.conftest import write_small_project

    folder = write_small_project(studio.projects / "halfdepth", ["alpha"])
    depth_file = folder / "depth" / "alpha.png"
    full = read_depth_file(depth_file)
    half = cv2.resize(full, (full.shape[1] // 2, full.shape[0] // 2), interpolation=cv2.INTER_AREA)
    write_depth_png(depth_file, half)
    defs = studio.defs()
    report = settle(defs, studio.instance)
    assert report.succeeded, report.failures
    stored = np.load(defs.resources["artifacts"].open().load("depth_map", "halfdepth|001").path("depth.npy"))
    image = load_image(next((folder / "images").iterdir()))
    rendered = picture_disparity(image, str(depth_file), model="unused", device="cpu")
    assert stored.shape == image.shape[:2]
    np.testing.assert_array_equal(stored, rendered)
    # and it is the guided map, not a plain resize of the file
    plain = cv2.resize(half, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    assert np.abs(stored - plain).max() > 0.05


def test_a_scene_rebuilt_after_its_composition_brings_the_video_up_to_date(studio):
    """A scene run that lands after automation last looked (e.g. as a settle ends): the
    next settle's automation starts afresh and never saw it; its plan sees the project's
    video made from an earlier clip and composes and delivers it again."""
    from parallax_pipeline.planning import plan_changes
    from parallax_pipeline.runner import execute

    folder = write_small_project(studio.projects / "trip", ["alpha", "beta"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date
    image = next((folder / "images").glob("beta.*"))
    _edit_image(image)
    plan = plan_changes(defs.resources["projects"], studio.instance, studio.depth_model)
    (scene_run,) = [request for request in plan.run_requests if request.partition_key == "trip|002"]
    assert execute(defs, studio.instance, scene_run).status == dg.DagsterRunStatus.SUCCESS

    mark = studio.mark()
    report = settle(defs, studio.instance)
    assert report.up_to_date, report.stale
    assert {asset for asset, _ in studio.built_since(mark)} == {"composed_video", "final_video"}
