"""Depth stage throughput: images per second of Depth Anything V2 at 518 px.

No machine of this project reaches the model hub, so the model is the real Depth
Anything V2 *Small* architecture (24.8 M parameters, the default `DepthAnythingConfig`)
with random weights: the same computation as the released checkpoint. It is saved to a
temporary folder and loaded back through `parallax_pipeline.engine.depth.model.load_depth_model`,
the path the `depth_map` asset uses, and each image is a 1080p picture (model input
518 x 924, the DPT processor's keep-aspect size).

Printed per device (the CPU always; CUDA when this machine has it) and batch size:
``images_per_s`` for `DepthEstimator.predict` end to end (preprocessing, the network,
and the guided upsampling of the prediction to 1920x1080), and ``model_images_per_s``
for the network's forward pass alone. On a GPU the scenes of a project are batched:
`predict` takes them all and runs ``batch_size`` at a time.

Usage (from the repository root)::

    .venv/bin/python benchmarks/depth_throughput.py [--images 4] [--batch 1 4] [--gpu-batch 1 8 32]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from parallax_pipeline.engine.depth.model import load_depth_model  # noqa: E402


def small_model(folder: Path) -> Path:
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(DepthAnythingConfig()).save_pretrained(folder)
    return folder


def pictures(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8) for _ in range(count)]


def measure(folder: Path, device: str, batch: int, count: int) -> dict:
    import torch

    estimator = load_depth_model(str(folder), device)
    estimator.batch_size = batch
    images = pictures(count)
    estimator.predict(images[:batch])  # warm-up: kernels, allocations
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    started = time.perf_counter()
    estimator.predict(images)
    sync()
    total = time.perf_counter() - started
    pixels = estimator._pixel_values(images[:batch])
    with torch.inference_mode():
        estimator.model(pixel_values=pixels)
        sync()
        started = time.perf_counter()
        rounds = max(1, count // batch)
        for _ in range(rounds):
            estimator.model(pixel_values=pixels)
        sync()
        forward = time.perf_counter() - started
    return {
        "device": device,
        "dtype": str(estimator.dtype).replace("torch.", ""),
        "batch": batch,
        "input": list(pixels.shape[-2:]),
        "images": count,
        "images_per_s": round(count / total, 3),
        "model_images_per_s": round(rounds * batch / forward, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--gpu-batch", type=int, nargs="+", default=[1, 8, 32])
    a = ap.parse_args()
    import torch

    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "cuda": torch.cuda.is_available()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = small_model(Path(tmp) / "depth-anything-v2-small-random")
        for batch in a.batch:
            print(json.dumps(measure(folder, "cpu", batch, a.images)), flush=True)
        if torch.cuda.is_available():
            for batch in a.gpu_batch:
                print(json.dumps(measure(folder, "cuda", batch, max(batch * 4, 32))), flush=True)
        else:
            print(json.dumps({"device": "cuda", "skipped": "no CUDA device on this machine"}), flush=True)


if __name__ == "__main__":
    main()
