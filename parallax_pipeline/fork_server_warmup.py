"""Imported by the run launcher's fork server, and only there (`run_launcher.PRELOAD`):
render a tiny clip once, so that the renderer's compiled kernels (numba: loaded from its
cache, or compiled the first time a checkout runs), OpenCV and the H.264 encoder are
loaded before runs are forked from the server. Each run's process then starts warm
instead of paying about 0.4 s of first-call costs (or a compilation) of its own. CUDA is
not touched here: a forked child cannot use a CUDA its parent initialised, so runs
that render on a GPU set it up themselves.

Importing this module is its whole job, the one deliberate import-time side effect in the
package; nothing else imports it. A failure here must not stop the fork server (it would
take every run with it), so it is swallowed: the runs then warm up on their own.
"""

from __future__ import annotations


def _render_tiny_clip() -> None:
    import tempfile
    from pathlib import Path

    import numpy as np

    from parallax_pipeline.engine.parallax.camera import Motion
    from parallax_pipeline.engine.parallax.clip import render_clip
    from parallax_pipeline.engine.video.codec import VideoSettings

    picture = (np.random.default_rng(0).random((90, 160, 3)) * 255).astype(np.uint8)
    disparity = np.tile(np.linspace(0.0, 1.0, 160, dtype=np.float32), (90, 1))
    with tempfile.TemporaryDirectory(prefix="parallax-warmup-") as folder:
        # the CPU renderer only: CUDA must stay uninitialised in a process that forks
        render_clip(picture, disparity, Motion(preset="circle"), 4, VideoSettings(width=160, height=90, fps=24),
                    Path(folder) / "warmup.mp4", backend="opencv")


try:
    _render_tiny_clip()
except Exception:  # noqa: BLE001 - see the module docstring
    pass
