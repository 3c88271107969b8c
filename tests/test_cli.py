"""`parallax render`: one picture to a clip from the command line, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from parallax_pipeline.cli import main
from parallax_pipeline.engine.depth.maps import write_depth_png
from parallax_pipeline.engine.video.codec import probe
from parallax_pipeline.spec import OutputSettings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def photo(tmp_path: Path) -> tuple[Path, Path]:
    """A 320x180 picture and its 16-bit disparity map (a near disc on a far wall)."""
    h, w = 180, 320
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.dstack([60 + xx // 3, 80 + yy // 2, np.full((h, w), 150)]).astype(np.uint8)
    disp = np.full((h, w), 0.1, np.float32)
    disc = ((xx - 160) ** 2 + (yy - 90) ** 2) < 40**2
    img[disc] = (220, 60, 50)
    disp[disc] = 1.0
    image_path = tmp_path / "photo.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    depth_path = tmp_path / "photo-depth.png"
    write_depth_png(depth_path, disp)
    return image_path, depth_path


def test_render_writes_the_clip(photo, tmp_path: Path, capsys):
    image, depth_map = photo
    out = tmp_path / "out.mp4"
    code = main(
        ["render", str(image), "-o", str(out), "--preset", "circle", "--duration", "0.5", "--resolution", "160x90",
         "--fps", "24", "--depth-map", str(depth_map), "--quality", "draft", "--loop"]
    )
    assert code == 0
    info = probe(out)
    assert (info.width, info.height, info.frames, round(info.fps)) == (160, 90, 12, 24)
    assert "12 frames" in capsys.readouterr().out


def test_render_vertical_square_and_contain(photo, tmp_path: Path):
    image, depth_map = photo
    for aspect, fit in (("9:16", "cover"), ("1:1", "contain")):
        out = tmp_path / f"{aspect.replace(':', 'x')}.mp4"
        assert main(["render", str(image), "-o", str(out), "--resolution", "720p", "--aspect", aspect, "--fit", fit,
                     "--duration", "0.1", "--depth-map", str(depth_map), "--quality", "draft", "-q"]) == 0
        info = probe(out)
        assert (info.width, info.height) == OutputSettings(resolution="720p", aspect=aspect).size


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jpg"], "image file not found"),
        (["{image}", "--aspect", "4:3"], "--aspect"),
        (["{image}", "--resolution", "8k"], "unknown resolution"),
        (["{image}", "--amount", "2"], "--amount"),
        (["{image}", "--duration", "0"], "--duration"),
        (["{image}", "--depth-map", "{broken}"], "cannot be decoded"),
        (["{image}", "--model", "{nowhere}"], "could not be loaded"),
        (["{image}", "--out-of", "x"], "unrecognized arguments"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(photo, tmp_path: Path, capsys, args, message):
    image, _ = photo
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    values = {"image": image, "broken": broken, "nowhere": tmp_path / "no" / "model"}
    argv = ["render", *[a.format(**values) for a in args], "-o", str(tmp_path / "x.mp4"), "--device", "cpu"]
    assert exit_status(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_output_must_be_an_mp4_in_an_existing_folder(photo, tmp_path: Path, capsys):
    image, depth_map = photo
    assert main(["render", str(image), "-o", str(tmp_path / "clip.gif"), "--depth-map", str(depth_map)]) == 2
    assert main(["render", str(image), "-o", str(tmp_path / "no" / "clip.mp4"), "--depth-map", str(depth_map)]) == 2
    err = capsys.readouterr().err
    assert ".mp4" in err and "does not exist" in err


def test_the_command_line_exit_status(photo, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "parallax_pipeline.cli", "render", str(tmp_path / "none.png"), "-o", str(tmp_path / "o.mp4")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "none.png: image file not found" in result.stderr


def exit_status(argv: list[str]) -> int:
    """What `parallax` exits with: main's return value, or argparse's SystemExit code."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)
