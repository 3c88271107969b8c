"""Awkward project folders: links out of the project, pictures in other formats, files
the project does not use, problems shown where users look."""

from __future__ import annotations

import datetime
import os
import shutil

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from parallax_pipeline.runner import settle
from parallax_pipeline.spec import ProjectError, load_project
from tests.conftest import DEMO, write_small_project


def test_convention_found_files_may_not_link_out_of_the_project(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for folder, name in (("depth", "alpha.png"), ("audio/voiceover", "alpha.wav")):
        project = write_small_project(tmp_path / f"p-{folder.replace('/', '-')}", ["alpha"])
        target = outside / name
        source = DEMO / "depth" / "01-valley.png" if folder == "depth" else next((DEMO / "audio" / "voiceover").iterdir())
        shutil.copyfile(source, target)
        link = project / folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        with pytest.raises(ProjectError, match="outside the project folder") as error:
            load_project(project)
        assert str(link) in str(error.value)


def test_a_gif_and_other_pillow_formats_are_scenes(tmp_path):
    project = write_small_project(tmp_path / "formats", ["alpha"])
    rgb = np.asarray(Image.open(next((DEMO / "images").glob("02-forest.*"))).convert("RGB").resize((320, 180)))
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(project / "images" / "beta.gif", save_all=True, append_images=frames[1:], duration=100)
    Image.fromarray(rgb).save(project / "images" / "gamma.tga")
    spec = load_project(project)
    assert [scene.id for scene in spec.scenes] == ["alpha", "beta", "gamma"]
    assert spec.warnings == ()


def test_every_unused_file_is_reported_with_its_reason(tmp_path):
    project = write_small_project(tmp_path / "extras", ["alpha"])
    (project / "images" / "sketch.xcf").write_bytes(b"gimp")
    (project / "depth" / "nobody.png").write_bytes((project / "depth" / "alpha.png").read_bytes())
    (project / "audio" / "voiceover").mkdir(parents=True, exist_ok=True)
    (project / "audio" / "voiceover" / "ghost.wav").write_bytes(b"RIFF")
    (project / "audio" / "take2.aiff").write_bytes(b"FORM")
    (project / "misc.bin").write_bytes(b"?")
    (project / "README.md").write_text("notes are not media")
    warnings = "\n".join(load_project(project).warnings)
    assert "images/sketch.xcf: unsupported type .xcf" in warnings
    assert "depth/nobody.png: no matching scene" in warnings
    assert "audio/voiceover/ghost.wav: no matching scene" in warnings
    assert "audio/take2.aiff: unsupported type .aiff" in warnings
    assert "misc.bin: not used" in warnings
    assert "README.md" not in warnings
    assert len(load_project(project).warnings) == 5


def test_the_run_reports_unused_files(studio):
    project = write_small_project(studio.projects / "extras", ["alpha"])
    (project / "images" / "sketch.xcf").write_bytes(b"gimp")
    lines = []
    report = settle(studio.defs(), studio.instance, log=lines.append)
    assert report.up_to_date
    assert any("sketch.xcf: unsupported type" in line for line in lines)
    assert any("sketch.xcf" in warning for warning in report.warnings)


def test_a_picture_that_claims_a_huge_size_is_refused_in_our_words(studio):
    project = write_small_project(studio.projects / "bomb", ["alpha", "beta"])
    image = next((project / "images").glob("beta.*"))
    image.unlink()
    bomb = project / "images" / "beta.png"
    _write_png_header_only(bomb, 40_000, 40_000)
    report = settle(studio.defs(), studio.instance)
    assert any(str(bomb) in failure and "1600 MP" in failure and "scale it down" in failure for failure in report.failures), report.failures
    assert report.stale["bomb"]


def _write_png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` and whose data is one tiny chunk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- in the UI


def _evaluate_sensor(studio, defs, cursor=None):
    sensor = defs.resolve_sensor_def("projects_sensor")
    with dg.build_sensor_context(instance=studio.instance, definitions=defs, resources=defs.resources, cursor=cursor) as context:
        return sensor(context)


def test_an_invalid_project_file_shows_on_the_projects_final_video(studio):
    project = write_small_project(studio.projects / "trip", ["alpha"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date
    first = _evaluate_sensor(studio, defs)
    (project / "project.yaml").write_text("output:\n  fps: 17\n")
    result = _evaluate_sensor(studio, defs, cursor=first.cursor if isinstance(first, dg.SensorResult) else None)
    assert isinstance(result, dg.SensorResult)
    (observation,) = result.asset_events
    assert observation.asset_key == dg.AssetKey("final_video") and observation.partition == "trip"
    assert "output.fps" in observation.metadata["problems"].value
    assert observation.metadata["project_status"].value == "cannot be rendered"
    again = _evaluate_sensor(studio, defs, cursor=result.cursor)  # said once, not every tick
    assert isinstance(again, dg.SkipReason) and "output.fps" in again.skip_message


def test_automation_holds_a_project_back_while_a_scene_clip_has_failed(studio):
    project = write_small_project(studio.projects / "trip", ["alpha", "beta"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date
    images = project / "images"
    broken = next(images.glob("beta.*"))
    broken.write_bytes(b"not a picture")
    changed = next(images.glob("alpha.*"))
    changed.write_bytes(next((DEMO / "images").glob("04-coast.*")).read_bytes())
    report = settle(defs, studio.instance, include_missing=False)  # as the daemon
    ran = [",".join(sorted(key.to_user_string() for key in run.asset_selection or [])) for run in report.runs]
    assert any("parallax_clip" in selection for selection in ran)
    assert not any("composed_video" in selection for selection in ran), ran
    assert report.failures and "trip" in report.stale


def test_the_nightly_rescan_also_recovers_orphaned_runs(studio):
    """The schedule and the sensor run the same recovery `parallax run` does."""
    from parallax_pipeline.recovery import HOST_TAG, PID_TAG

    write_small_project(studio.projects / "trip", ["alpha"])
    defs = studio.defs()
    assert settle(defs, studio.instance).up_to_date
    run = studio.instance.get_runs(limit=1)[0]
    studio.instance.add_run_tags(run.run_id, {PID_TAG: "999999", HOST_TAG: run.tags[HOST_TAG]})
    studio.instance.handle_run_event(
        run.run_id, dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name)
    )
    assert studio.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    schedule = defs.resolve_schedule_def("nightly_rescan")
    tick = datetime.datetime(2026, 11, 27, 3, 0, tzinfo=datetime.timezone.utc)
    with dg.build_schedule_context(instance=studio.instance, resources=defs.resources, scheduled_execution_time=tick) as context:
        schedule(context)
    assert studio.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def test_render_command_without_a_model_names_its_own_options(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    parallax = Path(sys.executable).with_name("parallax")
    image = next((DEMO / "images").iterdir())
    result = subprocess.run(
        [str(parallax), "render", str(image), "-o", str(tmp_path / "out.mp4"), "--model", str(tmp_path / "no-model")],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 2
    assert "--depth-map" in result.stderr and "--model" in result.stderr
    assert "project.yaml" not in result.stderr and "depth/<scene>" not in result.stderr


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("bom", "\ufefftitle: Caf\u00e9\n".encode("utf-8"), None),
        ("utf16", "title: x\n".encode("utf-16"), "not UTF-8 text"),
        ("latin1", "title: Caf\u00e9\n".encode("latin-1"), "not UTF-8 text"),
        ("laughs", b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n", "aliases"),
        ("tabs", b"output:\n\tfps: 24\n", "not valid YAML"),
        ("list", b"- just\n- a list\n", "expected a mapping"),
        ("huge", b"title: " + b"x" * (2 * 1024 * 1024) + b"\n", "at most"),
        ("unknown-field", b"colour: red\n", "colour"),
    ],
)
def test_awkward_project_files_are_refused_in_our_words(tmp_path, name, content, expected):
    project = write_small_project(tmp_path / name, ["alpha"])
    (project / "project.yaml").write_bytes(content)
    if expected is None:
        assert load_project(project).title == "Caf\u00e9"
        return
    with pytest.raises(ProjectError) as error:
        load_project(project)
    assert str(project / "project.yaml") in str(error.value) and expected in str(error.value)
