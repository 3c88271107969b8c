from parallax_pipeline.assets.project import composed_video, final_video, mixed_audio
from parallax_pipeline.assets.scenes import depth_map, parallax_clip

__all__ = ["composed_video", "depth_map", "final_video", "mixed_audio", "parallax_clip"]
