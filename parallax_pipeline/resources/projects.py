"""The folder of video projects the pipeline watches."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from parallax_pipeline.spec import ProjectSpec, discover_projects, load_project


class ProjectLibrary(dg.ConfigurableResource):
    """``projects/<name>/`` folders, each one video."""

    root: str = "projects"
    """Folder holding one sub-folder per project; relative to the working directory."""

    def folder(self, name: str) -> Path:
        return Path(self.root) / name

    def load(self, name: str) -> ProjectSpec:
        return load_project(self.folder(name))

    def project_folders(self) -> list[Path]:
        return discover_projects(self.root)
