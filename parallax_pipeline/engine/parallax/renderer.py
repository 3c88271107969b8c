"""Single-image 3D parallax: an image and its disparity map seen from a moved camera.

Geometry (see `parallax_pipeline.engine.camera`): a reference point ``p`` of disparity
``d`` (1 = nearest, 0 = far) appears in the output frame at

    p' = c + scale · [ (p − c) + W·d·(dx, dy) ] / (1 − zoom·d)

with ``c`` the frame centre and ``W`` its width. For ``zoom = 0, scale = 1`` this is the
quality bench's contract (`render_view`): content moves ``(dx·W·d, dy·W·d)`` pixels.

Method: *layered rendering*, everything expensive done once per clip.

1. *Canvas* (`make_renderer`). The picture is fitted to the frame, magnified by the
   clip's overscan and centred on a canvas large enough for every source position the
   clip's frames sample (`parallax_pipeline.engine.geometry`); canvas pixels outside
   the picture are marked unknown and inpainted like hidden background.
2. *Layers* (`parallax_pipeline.engine.layers`). The canvas is cut along its depth
   edges into depth layers; each layer's hidden continuation (behind nearer layers and
   outside the picture) is inpainted from its own pixels, its rim at depth edges is
   matted, and its disparity is extended smoothly.
3. *Per frame*, only warps and composites (`parallax_pipeline.engine.warp_cv` on the
   CPU, `parallax_pipeline.engine.warp_torch` on CUDA): each layer is warped backwards
   on the tiles it can reach and composited near to far.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from parallax_pipeline.engine.parallax import layers as layering
from parallax_pipeline.engine.parallax.camera import CameraPose, Motion, camera_path
from parallax_pipeline.engine.parallax.geometry import Geometry, overscan_for, valid_pose
from parallax_pipeline.engine.parallax.images import fit_scale, place_on_canvas
from parallax_pipeline.engine.parallax.sharpen import grainy_limit, map_grain, sharpen_disparity
from parallax_pipeline.engine.parallax.warp_cv import ClipRenderer

__all__ = [
    "ClipFrames",
    "ClipRenderer",
    "clip_poses",
    "make_renderer",
    "overscan_for",
    "render_frames",
    "render_pose",
    "render_view",
]

BACKENDS = ("auto", "opencv", "torch")


# ---- validation ----------------------------------------------------------


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB image, got {image.dtype} {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image too small: {image.shape}")
    return np.ascontiguousarray(image)


def _check_disparity(disparity: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    d = np.asarray(disparity)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.shape != shape:
        raise ValueError(f"disparity must be HxW matching the image {shape}, got {d.shape}")
    d = np.nan_to_num(d.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(d, 0.0, 1.0), dtype=np.float32)


# ---- building a clip --------------------------------------------------------------


def cuda_available() -> bool:
    """True when torch sees a CUDA device; torch is imported only where NVIDIA's device
    nodes exist, so CPU machines never pay for the import.

    The devices are counted through NVML, which leaves CUDA uninitialised: a process
    that asks and then forks (the runs' fork server) would otherwise give its children
    a CUDA they cannot use ("Cannot re-initialize CUDA in forked subprocess")."""
    if not os.path.exists("/dev/nvidiactl"):
        return False
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.device_count() > 0


def make_renderer(
    image: np.ndarray,
    disparity: np.ndarray,
    poses: Sequence[CameraPose],
    size: tuple[int, int],
    base_scale: float = 1.0,
    fit: str = "cover",
    backend: str = "auto",
):
    """The per-clip renderer for ``poses`` at ``size`` = (width, height).

    ``image``: uint8 RGB picture at any size; ``disparity``: float32 in [0, 1] at the
    picture's size. The picture is fitted to the frame by ``fit`` and magnified by
    ``base_scale`` on the canvas (the poses' scale is relative to the fitted picture, so
    pass poses whose scale already includes ``base_scale``). ``backend``: "opencv",
    "torch" (CUDA when available, else CPU torch) or "auto" (torch on CUDA, OpenCV
    otherwise). The result has ``render(pose) -> uint8 RGB frame`` and ``scene``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")
    for pose in poses:
        valid_pose(pose)
    width, height = (int(v) for v in size)
    h, w = image.shape[:2]
    geometry = Geometry.around(width, height, base_scale, poses)
    scale = fit_scale((w, h), (width, height), fit) * base_scale
    canvas, known = place_on_canvas(image, scale, geometry.canvas_size)
    canvas_d, _ = place_on_canvas(disparity, scale, geometry.canvas_size)
    reach = max((geometry.reach(p) for p in poses), default=0.0)
    # a grainy (stereo-matched) map's grain must not pass for depth edges. Sharpening
    # measures the grain again once its median has cleaned with this edge (reusing this
    # figure cost uncorrelated grain of 0.03 0.47 dB on the photograph evaluation); whether
    # the map is grainy is judged once, so both clean it alike
    exact_edge = layering.edge_threshold(reach)
    grainy = grainy_limit(canvas_d, known, exact_edge)
    edge = layering.edge_threshold(reach, map_grain(canvas_d, known, exact_edge, grainy))
    canvas_d = sharpen_disparity(canvas, canvas_d, known, edge, grainy=grainy)
    scene = layering.build_layers(canvas, canvas_d, known, reach, edge=edge, upscale=scale)
    if backend == "torch" or (backend == "auto" and cuda_available()):
        from parallax_pipeline.engine.parallax.warp_torch import TorchClipRenderer

        return TorchClipRenderer(scene, geometry)
    return ClipRenderer(scene, geometry)


# ---- public entry points -------------------------------------------------


def render_pose(image: np.ndarray, disparity: np.ndarray, pose: CameraPose) -> np.ndarray:
    """``image`` (uint8 HxWx3 RGB) with ``disparity`` (float32 HxW in [0, 1], 1 = nearest)
    seen from ``pose`` (offset, dolly zoom and scale; see `camera`). Same size as the input;
    content entering from outside the picture is inpainted."""
    image = _check_image(image)
    h, w = image.shape[:2]
    disparity = _check_disparity(disparity, (h, w))
    if pose.is_identity():
        return image.copy()
    valid_pose(pose)
    renderer = make_renderer(image, disparity, [pose], (w, h), backend="opencv")
    return renderer.render(pose)


def render_view(image: np.ndarray, disparity: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The bench contract: content of disparity ``d`` moves ``(dx·W·d, dy·W·d)`` pixels
    (dx > 0 right, dy > 0 down). uint8 HxWx3 RGB in and out, same size; what the view
    uncovers (behind near things, or beyond the picture's border) is inpainted."""
    return render_pose(image, disparity, CameraPose(dx=float(dx), dy=float(dy)))


def clip_poses(motion: Motion, frames: int, disparity: np.ndarray) -> tuple[list[CameraPose], float]:
    """The camera path of a clip with its overscan applied, and that overscan.

    The whole clip is magnified by one constant factor (`overscan_for`, at most
    ``1 + motion.range``) so that content entering at the borders is real picture, not
    inpainting, as far as the range allows.
    """
    poses = camera_path(motion, frames)
    overscan = overscan_for(poses, disparity, 1.0 + motion.range)
    if overscan != 1.0:
        poses = [CameraPose(p.dx, p.dy, p.zoom, p.scale * overscan) for p in poses]
    return poses, overscan


def render_frames(
    image: np.ndarray,
    disparity: np.ndarray,
    motion: Motion,
    frames: int,
    size: tuple[int, int],
    fit: str = "cover",
    backend: str = "auto",
) -> Iterator[np.ndarray]:
    """Yield ``frames`` uint8 RGB frames of ``size`` = (width, height) for ``motion``.

    ``disparity`` is float32 in [0, 1] (see `depth.maps.prepare_disparity`), any resolution: it is
    resized to the image first. The picture fills the frame by ``fit`` ("cover" crops,
    "contain" shows it whole). All per-clip work (camera path, overscan, canvas, layers
    and their inpainting) happens here, before the first frame; each frame is then
    produced only when asked for.
    """
    image = _check_image(image)
    width, height = (int(v) for v in size)
    if width < 2 or height < 2:
        raise ValueError(f"frame size must be at least 2x2, got {size}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    d = np.asarray(disparity, dtype=np.float32)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2:
        raise ValueError(f"expected an HxW disparity map, got shape {np.shape(disparity)}")
    finite = d[np.isfinite(d)]
    if finite.size and (finite.min() < -1e-3 or finite.max() > 1.0 + 1e-3):
        raise ValueError(
            f"disparity must lie in [0, 1] (got {finite.min():.3g}..{finite.max():.3g}); "
            "normalise it with prepare_disparity first"
        )
    h, w = image.shape[:2]
    if d.shape != (h, w):
        shrinking = d.shape[0] * d.shape[1] > h * w
        d = cv2.resize(d, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    d = _check_disparity(d, (h, w))
    # the overscan is judged on the disparity as the frame will show it
    scale = fit_scale((w, h), (width, height), fit)
    framed, _ = place_on_canvas(d, scale, (width, height))
    poses, overscan = clip_poses(motion, frames, framed)
    renderer = make_renderer(image, d, poses, (width, height), overscan, fit, backend)
    return ClipFrames(renderer, poses, overscan)


class ClipFrames(Iterator[np.ndarray]):
    """The frames of a prepared clip, rendered one at a time as they are asked for.

    ``renderer`` holds the clip's layers, ``poses`` the camera of every frame and
    ``overscan`` the constant magnification the clip uses."""

    def __init__(self, renderer, poses: list[CameraPose], overscan: float):
        self.renderer = renderer
        self.poses = poses
        self.overscan = overscan
        self._next = 0

    def __len__(self) -> int:
        return len(self.poses)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (uint8 RGB); frames may be rendered in any order, and in
        several threads at once with the OpenCV renderer."""
        return self.renderer.render(self.poses[index])

    def frame_rgba(self, index: int) -> np.ndarray:
        """Frame ``index`` as the renderer makes it: uint8 RGBA, opaque, rows possibly
        strided (`encode.VideoWriter` takes it without a conversion)."""
        return self.renderer.render_rgba(self.poses[index])

    def __next__(self) -> np.ndarray:
        if self._next >= len(self.poses):
            raise StopIteration
        self._next += 1
        return self.frame(self._next - 1)
