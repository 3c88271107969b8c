"""Composition: `timeline` (frame arithmetic), `transitions` (the blends) and
`programme` (scene clips joined into one video, incrementally by cached segments)."""
