"""The upload page in a real headless chromium (Debian's, driven by Playwright): the
demo's files dropped in, uploaded with progress, scenes shown with their depth
previews, and the finished video playing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import DEMO
from tests.studio.conftest import ALICE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    from playwright import sync_api  # the test extra; no browser download: the system's chromium

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: scripts/setup.sh installs Debian's chromium")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield launched
        launched.close()


def demo_files(folder: Path) -> list[Path]:
    """The demo's files, with its project.yaml made tiny (160x90, 1.5 s scenes)."""
    text = (DEMO / "project.yaml").read_text()
    text = re.sub(r"resolution: \[640, 360\]", "resolution: [160, 90]", text)
    text = re.sub(r"duration: 4.0", "duration: 1.5", text).replace("quality: standard", "quality: draft")
    folder.mkdir()
    (folder / "project.yaml").write_text(text)
    media = [p for sub in ("images", "depth", "audio/voiceover", "audio/sfx") for p in sorted((DEMO / sub).iterdir())]
    return media + [DEMO / "audio" / "music.mp3", folder / "project.yaml"]


def test_the_page_uploads_the_demo_and_plays_the_video(server, browser, tmp_path):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#token", ALICE)
    page.set_input_files("#files", [str(p) for p in demo_files(tmp_path / "upload")])
    kinds = {select.get_attribute("data-file"): select.input_value() for select in page.query_selector_all("#list select")}
    assert kinds["01-valley.jpg"] == "images" and kinds["01-valley.png"] == "depth"
    assert kinds["01-valley.wav"] == "voiceover" and kinds["whoosh.wav"] == "sfx"
    assert kinds["music.mp3"] == "music" and kinds["project.yaml"] == "project.yaml"
    page.click("#upload")
    page.wait_for_function("document.getElementById('sent').value === 1", timeout=30_000)
    page.wait_for_selector("#scene-04-coast", timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#done video'); return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=240_000,
    )
    duration = page.evaluate("document.querySelector('#done video').duration")
    assert 4.0 < duration < 6.5  # 4 × 1.5 s less three 0.5 s transitions = 4.5 s
    previews = page.evaluate("[...document.querySelectorAll('.scene img')].map(i => i.naturalWidth)")
    assert len(previews) == 4 and all(width > 0 for width in previews)
    page.evaluate("document.querySelector('#done video').play()")
    page.wait_for_function("document.querySelector('#done video').currentTime > 0.2", timeout=20_000)
    assert page.get_attribute("#done a", "href").startswith("/v1/projects/")
    assert "done" in page.inner_text("#state")
