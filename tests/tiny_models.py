"""A tiny randomly initialised Depth Anything V2, saved like a real one: no hub needed."""

from __future__ import annotations

from pathlib import Path


def save_tiny_depth_anything(folder: Path, with_processor: bool) -> Path:
    """A randomly initialised Depth Anything with a 4-layer, 32-wide DINOv2 backbone."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, DPTImageProcessor

    backbone = {
        "model_type": "dinov2",
        "hidden_size": 32,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "patch_size": 14,
        "image_size": 56,
        "out_indices": [1, 2, 3, 4],
        "reshape_hidden_states": False,
    }
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config)
    # Random weights often leave the final ReLU at 0 everywhere; a positive bias keeps the
    # output varying, so the test sees real upsampling and normalisation, not zeros.
    with torch.no_grad():
        model.head.conv3.bias.fill_(1.0)
    model.save_pretrained(folder)
    if with_processor:
        # The real DA V2 processor settings, with a small input side to keep the test fast.
        DPTImageProcessor(
            do_resize=True,
            size={"height": 70, "width": 70},
            keep_aspect_ratio=True,
            ensure_multiple_of=14,
            do_pad=False,
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
        ).save_pretrained(folder)
    return folder
