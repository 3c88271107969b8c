"""Parallax quality on the shared bench, against its two built-in baselines, in one run.

Writes the bench's synthetic scenes (``synth_scenes.py``, default 6 scenes at 640x360)
to a temporary folder, scores the baselines and
``parallax_pipeline.engine.parallax:render_view`` with the bench's own ``score``, prints
one JSON line per renderer exactly as ``parallax_quality.py --baselines`` does, then the
margin of each score over the better baseline and the targets of issue #3 (psnr +2 dB,
psnr_edges +4 dB, psnr_disoccluded +2 dB, ssim above; ms_per_view is compared with
``splat_fill``, the baseline that also fills disocclusions).

Usage (from the repository root)::

    .venv/bin/python benchmarks/parallax_quality.py [--bench ../shared/bench] [--count 6] [--size 640x360]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGETS = {"psnr": 2.0, "psnr_edges": 4.0, "psnr_disoccluded": 2.0, "ssim": 0.0}


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="640x360")
    a = ap.parse_args()
    synth = load(a.bench / "synth_scenes.py", "synth_scenes")
    bench = load(a.bench / "parallax_quality.py", "bench_parallax_quality")
    from parallax_pipeline.engine.parallax.renderer import render_view

    w, h = (int(v) for v in a.size.lower().split("x"))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        scenes = Path(tmp)
        for i in range(a.count):
            synth.write_scene(scenes / f"scene_{a.seed + i:03d}", a.seed + i, w, h)
        renderers = {**bench.BASELINES, "parallax_pipeline.engine.parallax:render_view": render_view}
        for name, fn in renderers.items():
            rows[name] = bench.score(fn, scenes)
            print(json.dumps({"renderer": name, **rows[name]}), flush=True)
    ours = rows["parallax_pipeline.engine.parallax:render_view"]
    baselines = [rows[name] for name in bench.BASELINES]
    margins, met = {}, {}
    for key, target in TARGETS.items():
        best = max(row[key] for row in baselines)
        margins[key] = round(ours[key] - best, 3)
        met[key] = margins[key] > target if key == "ssim" else margins[key] >= target
    splat = rows["baseline:splat_fill"]["ms_per_view"]
    print(json.dumps({"margin_over_better_baseline": margins, "targets": TARGETS, "met": met}), flush=True)
    print(json.dumps({"ms_per_view": ours["ms_per_view"], "splat_fill_ms_per_view": splat,
                      "faster_than_splat_fill": ours["ms_per_view"] < splat}), flush=True)


if __name__ == "__main__":
    main()
