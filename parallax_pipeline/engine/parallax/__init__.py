"""Parallax: one picture and its disparity seen from a moving camera.

`camera` (moves), `geometry` (canvas and reach), `images` (loading, fitting), `layers`
and `inpaint` (the layered scene, made once per clip), `tiles`, `kernels`, `warp_cv` and
`warp_torch` (per-frame warps), `renderer` (the entry points, `render_view` among them)
and `clip` (a clip straight into an MP4).
"""


def __getattr__(name: str):
    # The quality bench (../shared/bench) is documented with the renderer path
    # `parallax_pipeline.engine.parallax:render_view`; resolved on first use so that
    # importing `parallax.camera` (project files, sensor ticks) does not load the renderer.
    if name == "render_view":
        from parallax_pipeline.engine.parallax.renderer import render_view

        return render_view
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
