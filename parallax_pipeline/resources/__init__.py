from parallax_pipeline.resources.depth_model import DepthModel
from parallax_pipeline.resources.projects import ProjectLibrary
from parallax_pipeline.resources.storage import ArtifactStore, Publisher

__all__ = ["ArtifactStore", "DepthModel", "ProjectLibrary", "Publisher"]
