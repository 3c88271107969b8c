from parallax_pipeline.io_managers.artifact_io_manager import ArtifactIOManager
from parallax_pipeline.io_managers.content_store import Artifact, ContentStore

__all__ = ["Artifact", "ArtifactIOManager", "ContentStore"]
