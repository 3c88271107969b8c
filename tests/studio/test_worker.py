"""The project worker in process, on a real instance: a change that lands just as a
settle finishes (after the final video, before its next round) still reaches the video."""

from __future__ import annotations

import shutil
import time

from parallax_pipeline.freshness import stale_reasons
from parallax_pipeline.spec import load_project
from parallax_pipeline.studio.worker import ProjectWorker
from tests.conftest import write_small_project


def test_a_change_as_a_settle_ends_still_reaches_the_video(studio, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(studio.instance.root_directory))
    folder = write_small_project(studio.projects / "p1", ["a", "b"])
    (folder / "project.yaml").write_text("output: {resolution: [64, 36], fps: 24, quality: draft}\n"
                                         "defaults: {duration: 1.0, transition: {type: cut}}\n")
    defs = studio.defs()
    store, model = defs.resources["artifacts"].open(), defs.resources["depth_model"].model
    worker = ProjectWorker(defs, studio.root / "run.lock", on_settled=lambda included: None)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while stale_reasons(load_project(folder), studio.instance, store, model):  # the first video is made
            assert time.monotonic() < deadline
            time.sleep(0.02)
        shutil.copyfile(sorted((folder / "images").iterdir())[1], folder / "images" / "a.jpg")
        worker.changed("p1")
        assert worker.wait_idle(120)
        assert stale_reasons(load_project(folder), studio.instance, store, model) == []
        assert worker.phase("p1") == "settled" and worker.failures == {}
    finally:
        worker.stop()
