"""Pure media code, no Dagster: one room per medium.

    files, errors, streams, previews   the bottom: anything may import them
    depth/      the depth model and depth-map files            (imports the bottom)
    parallax/   camera, layers, inpainting, renderers, clips   (depth.maps, video for clips)
    video/      H.264 encode, decode, probe, concat, yuv       (the bottom)
    compose/    timeline, transitions, the programme           (video)
    audio/      decode, dsp, loudness, dynamics, mixing        (the bottom)
    delivery    the one module that joins audio and video

`video` and `audio` never import each other. Heavy libraries (torch, transformers,
numba) are imported inside the functions that need them, so importing a room is cheap;
package ``__init__`` files import nothing.
"""
