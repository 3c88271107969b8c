"""The per-frame work in torch: the same warps and composites as `warp_cv`, on the GPU.

The layers (premultiplied RGBA and block disparity, see `parallax_pipeline.engine.layers`)
are uploaded once per clip. Per frame and layer, near to far: the backward map is found
on the same `FIELD_STEP` grid as on the CPU (two fixed-point steps and Aitken's
extrapolation, sampling the block disparity with `grid_sample`), upsampled bilinearly
with the same pixel alignment as `cv2.resize`, the layer is sampled with `grid_sample`
(bilinear; zeros outside a layer, the border for the opaque farthest one) and
composited under what nearer layers drew. A GPU warps a whole 4K frame in well under a
millisecond, so there is no tiling; the frame comes back to the CPU as uint8 RGBA for the
encoder.

A frame is some 700 small operations, so on CUDA their launches, not the GPU, would set
the pace (25 ms a 1080p frame on an H100, as much CPU as the OpenCV path). The pose
therefore enters as a tensor, and the whole frame is captured once per clip as a CUDA
graph that each frame replays after copying its pose in.

The same code runs on CPU torch, which is how it is tested against the OpenCV path on
machines without a GPU.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from parallax_pipeline.engine.parallax import layers as layering
from parallax_pipeline.engine.parallax.camera import CameraPose
from parallax_pipeline.engine.parallax.geometry import Geometry, valid_pose


class TorchClipRenderer:
    """Renders frames of one layered scene with torch (CUDA when available)."""

    def __init__(self, scene: layering.LayeredScene, geometry: Geometry, device: str | None = None):
        import torch

        self.torch = torch
        self.scene = scene
        self.geometry = geometry
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._layers = []
        for layer in scene.layers:
            rgba = torch.from_numpy(np.ascontiguousarray(layer.rgba)).to(self.device)
            rgba = rgba.permute(2, 0, 1)[None].float().div_(255.0)
            fields = None
            if layer.fields is not None:
                fields = torch.from_numpy(np.ascontiguousarray(layer.fields)).to(self.device)[None, None]
            self._layers.append((layer, rgba, fields))
        step = layering.FIELD_STEP
        w, h = geometry.frame_width, geometry.frame_height
        fx, fy = geometry.frame_centre
        offset = step / 2.0 + 0.5  # the grid of warp_cv.ClipRenderer
        self._grid_x = torch.arange(math.ceil(w / step) + 3, device=self.device, dtype=torch.float32) * step - offset - fx
        self._grid_y = torch.arange(math.ceil(h / step) + 3, device=self.device, dtype=torch.float32) * step - offset - fy
        self._pixel_x = torch.arange(w, device=self.device, dtype=torch.float32) - fx
        self._pixel_y = torch.arange(h, device=self.device, dtype=torch.float32) - fy
        self._graph = None  # see _replay
        self._graph_lock = threading.Lock()

    @staticmethod
    def _normalised(x, y, width: int, height: int):
        """Pixel coordinates -> grid_sample's [-1, 1] (align_corners=True: pixel centres)."""
        return (2.0 * x / max(width - 1, 1) - 1.0, 2.0 * y / max(height - 1, 1) - 1.0)

    def _sample(self, image, x, y, padding: str):
        torch = self.torch
        nx, ny = self._normalised(x, y, image.shape[3], image.shape[2])
        grid = torch.stack([nx, ny], dim=-1)[None]
        return torch.nn.functional.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=True)

    def _map(self, layer: layering.Layer, fields, terms):
        """Backward map of a layer over the whole frame, in its box pixels (x, y);
        ``terms``: the pose's (S, Kx, Ky, zoom), a tensor of 4 on the device."""
        torch = self.torch
        s, kx, ky, z = terms[0], terms[1], terms[2], terms[3]
        (ccx, ccy) = self.geometry.canvas_centre
        w, h = self.geometry.frame_width, self.geometry.frame_height
        if fields is None:  # a plane: P = c + q·(1 − zoom·d) − K·d
            d = layer.constant
            a = (1.0 - z * d) / s
            x = (self._pixel_x * a + (ccx - kx * d - layer.x0))[None, :].expand(h, w)
            y = (self._pixel_y * a + (ccy - ky * d - layer.y0))[:, None].expand(h, w)
            return x, y
        step = layering.FIELD_STEP
        qx, qy = self._grid_x / s, self._grid_y / s
        rows, cols = qy.numel(), qx.numel()
        px = (qx + (ccx - layer.x0))[None, :].expand(rows, cols)
        py = (qy + (ccy - layer.y0))[:, None].expand(rows, cols)
        ax = (kx + z * qx)[None, :].expand(rows, cols)
        ay = (ky + z * qy)[:, None].expand(rows, cols)
        centre = (step - 1) / 2.0

        def disparity_at(x, y):
            return self._sample(fields, (x - centre) / step, (y - centre) / step, "border")[0, 0]

        d0 = disparity_at(px, py)
        d1 = disparity_at(px - d0 * ax, py - d0 * ay)
        d2 = disparity_at(px - d1 * ax, py - d1 * ay)
        first, second = d1 - d0, d2 - d1
        bend = second - first
        safe = bend.abs() > 1e-6
        d = torch.where(safe, d2 - second * second / torch.where(safe, bend, torch.ones_like(bend)), d2)
        d = torch.minimum(torch.maximum(d, torch.minimum(d0, d2) - first.abs()), torch.maximum(d0, d2) + first.abs())
        grid = torch.stack([px - d * ax, py - d * ay])[None]
        # bilinear upsampling by the step, aligned as cv2.resize: pixel step + x is frame x
        full = torch.nn.functional.interpolate(grid, scale_factor=step, mode="bilinear", align_corners=False)
        full = full[0, :, step : step + h, step : step + w]
        return full[0], full[1]

    def _frame(self, terms):
        """The frame for the pose ``terms``: uint8 HxWx4 RGBA on the device."""
        torch = self.torch
        g = self.geometry
        out = torch.zeros((1, 4, g.frame_height, g.frame_width), device=self.device)
        for layer, rgba, fields in reversed(self._layers):
            x, y = self._map(layer, fields, terms)
            warped = self._sample(rgba, x, y, "border" if layer.opaque else "zeros")
            out += warped * (1.0 - out[:, 3:4])  # premultiplied "under"
        # interleaved on the device: a channels-first frame would be transposed by numpy
        # on the CPU, which cost more than the whole warp
        return (out[0] * 255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()

    def _replay(self, terms):
        """`_frame` through a CUDA graph captured at the first call. The graph's input and
        output tensors are reused: callers hold ``_graph_lock`` until the frame is copied
        out (clips render torch frames from one thread; the lock keeps others correct)."""
        torch = self.torch
        if self._graph is None:
            self._graph_terms = terms.clone()
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):  # warm-up outside the capture, as torch asks
                for _ in range(2):
                    self._frame(self._graph_terms)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._graph_frame = self._frame(self._graph_terms)
            self._graph = graph
        self._graph_terms.copy_(terms)
        self._graph.replay()
        return self._graph_frame

    def render_rgba(self, pose: CameraPose) -> np.ndarray:
        """The frame for ``pose``: uint8 HxWx4 RGBA of the frame's size, opaque."""
        valid_pose(pose)
        torch = self.torch
        terms = torch.tensor(self.geometry.terms(pose), dtype=torch.float32, device=self.device)
        with torch.no_grad():
            if self.device.type != "cuda":
                return self._frame(terms).numpy()
            with self._graph_lock:
                return self._replay(terms).cpu().numpy()

    def render(self, pose: CameraPose) -> np.ndarray:
        """The frame for ``pose``: uint8 HxWx3 RGB of the frame's size."""
        return np.ascontiguousarray(self.render_rgba(pose)[:, :, :3])
