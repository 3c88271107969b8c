"""Pure media code: depth, parallax, camera paths, encoding, composition, audio.

Nothing here imports Dagster, so every piece can be used and tested on its own.
Heavy libraries (torch, transformers) are imported lazily inside the functions that
need them.
"""
