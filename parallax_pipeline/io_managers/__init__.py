from parallax_pipeline.io_managers.artifact_io_manager import ArtifactIOManager

__all__ = ["ArtifactIOManager"]
