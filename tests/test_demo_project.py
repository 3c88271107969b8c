"""The committed demo project (projects/demo): valid, complete, and in step with its generator."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "projects" / "demo"
GENERATOR = REPO / "scripts" / "make_demo_project.py"

if str(REPO) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(REPO))

from parallax_pipeline.spec import load_project  # noqa: E402


@pytest.fixture(scope="module")
def demo():
    return load_project(DEMO)


@pytest.fixture(scope="module")
def generator():
    """scripts/make_demo_project.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_demo_project", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def read_depth(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def audio_seconds(path: Path) -> float:
    """Decoded length of an audio file, from the samples themselves (not the header)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


def test_demo_loads_with_four_scenes_and_audio(demo):
    assert len(demo.scenes) >= 4
    assert demo.audio.music is not None and demo.audio.music.is_file()
    assert len(demo.audio.effects) >= 2
    for scene in demo.scenes:
        assert scene.image.is_file(), scene.id
        assert scene.depth is not None and scene.depth.is_file(), scene.id
        assert scene.voiceover is not None and scene.voiceover.is_file(), scene.id
    # The camera moves differ from scene to scene: the demo shows off several presets.
    assert len({scene.motion.preset for scene in demo.scenes}) >= 4


def test_depth_maps_are_16bit_full_range_and_match_their_images(demo):
    for scene in demo.scenes:
        image = cv2.imread(str(scene.image), cv2.IMREAD_COLOR)
        depth = read_depth(scene.depth)
        assert image is not None and depth is not None, scene.id
        assert depth.dtype == np.uint16 and depth.ndim == 2, scene.id
        assert depth.shape == image.shape[:2], scene.id
        # Far sky to the nearest foreground: the map spans most of the 16-bit range.
        assert int(depth.max()) - int(depth.min()) > 0.6 * 65535, scene.id
        assert len(np.unique(depth)) > 100, scene.id  # slanted surfaces, not just a few flat cards


def test_every_audio_file_decodes(demo):
    files = sorted(p for p in (DEMO / "audio").rglob("*") if p.is_file())
    assert len(files) >= len(demo.scenes) + 3  # voiceovers, music, two effects
    for path in files:
        assert audio_seconds(path) > 0.1, path


def test_music_is_a_stereo_mp3_loop():
    with av.open(str(DEMO / "audio" / "music.mp3")) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")
        assert stream.layout.nb_channels == 2
        assert stream.rate in (44_100, 48_000)
    assert 6.0 < audio_seconds(DEMO / "audio" / "music.mp3") < 12.0


def test_voiceover_lines_end_before_their_scenes(demo):
    for scene in demo.scenes:
        seconds = audio_seconds(scene.voiceover)
        assert 1.0 < seconds < scene.duration, (scene.id, seconds)


def test_demo_is_small_enough_to_commit():
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 1.5 * 1024 * 1024


def test_render_scene_is_deterministic(generator):
    image_a, disparity_a = generator.render_scene("02-forest")
    image_b, disparity_b = generator.render_scene("02-forest")
    assert image_a.dtype == np.uint8 and image_a.shape == (generator.HEIGHT, generator.WIDTH, 3)
    assert disparity_a.shape == image_a.shape[:2]
    assert 0.0 <= disparity_a.min() and disparity_a.max() <= 1.0
    np.testing.assert_array_equal(image_a, image_b)
    np.testing.assert_array_equal(disparity_a, disparity_b)


def test_committed_depth_is_what_the_generator_makes(generator, demo):
    """A stale demo (script changed, not rerun) shows up here.

    A tiny share of pixels may differ where noise thresholds sit on a float rounding
    edge that another CPU's SIMD path rounds the other way.
    """
    for scene in demo.scenes:
        _, disparity = generator.render_scene(scene.id)
        expected = generator.encode_depth(disparity)
        committed = read_depth(scene.depth)
        assert np.mean(expected == committed) > 0.999, scene.id
