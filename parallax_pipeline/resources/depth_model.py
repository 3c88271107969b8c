"""The depth model, held once per process on the best device."""

from __future__ import annotations

from typing import Literal

import dagster as dg

from parallax_pipeline.engine.depth.model import DEFAULT_MODEL, DepthEstimator, load_depth_model


class DepthModel(dg.ConfigurableResource):
    """Depth Anything V2 through transformers, loaded lazily on first use."""

    model: str = DEFAULT_MODEL
    """Hub id or a local folder holding a saved model (default: Depth Anything V2 Small,
    Apache-2.0; Base and Large are CC-BY-NC-4.0)."""
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    """Where inference runs: auto picks cuda, then mps, then cpu (fp16 on cuda)."""

    def estimator(self) -> DepthEstimator:
        # load_depth_model caches per (model, device), so each process loads once.
        return load_depth_model(self.model, self.device)
