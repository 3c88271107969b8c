"""Where a frame of the torch (CUDA) renderer spends its time: 1080p frames of a demo
scene rendered one after another (wall and CPU per frame; each comes back to the CPU, so
the device has finished it), then torch's profiler over a few frames, its operations by
self CPU and self CUDA time.

Usage (from the repository root, on a machine where torch sees a GPU)::

    python3 benchmarks/torch_frame_profile.py [--scene 02-forest] [--frames 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from parallax_speed import load_scene  # noqa: E402

from parallax_pipeline.engine.parallax import renderer as parallax  # noqa: E402
from parallax_pipeline.engine.parallax.camera import Motion  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", default="02-forest")
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    import torch

    image, disparity = load_scene(args.scene, (1920, 1080))
    stream = parallax.render_frames(image, disparity, Motion(preset="circle"), args.frames, (1920, 1080),
                                    backend="torch")
    device = getattr(stream.renderer, "device", "cpu")
    on_cuda = torch.cuda.is_available()
    # each frame comes back to the CPU as an array, which waits for the device: no sync needed
    for index in range(min(3, args.frames)):  # warm-up: kernels, allocator, the CUDA graph
        stream.frame_rgba(index)
    started, cpu = time.perf_counter(), time.process_time()
    for index in range(args.frames):
        stream.frame_rgba(index)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{args.scene} on {device}: {1000 * wall / args.frames:.2f} ms wall, "
          f"{1000 * cpu / args.frames:.2f} ms CPU a frame ({args.frames / wall:.1f} fps), "
          f"{len(stream.renderer.scene.layers)} layers")
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if on_cuda else [])
    with torch.profiler.profile(activities=activities) as profile:
        for index in range(min(10, args.frames)):
            stream.frame_rgba(index)
    for key in ["self_cpu_time_total"] + (["self_device_time_total"] if on_cuda else []):
        print(profile.key_averages().table(sort_by=key, row_limit=10, max_name_column_width=40))

if __name__ == "__main__":
    main()
