"""Depth: Depth Anything V2 inference (`model`) and depth maps as disparity (`maps`)."""
