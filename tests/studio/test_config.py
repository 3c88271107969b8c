"""`parallax serve`'s configuration: the store may be a bucket, as for `parallax run`."""

from __future__ import annotations

from parallax_pipeline.studio.config import StudioConfig


def test_the_store_may_be_a_folder_or_a_bucket(tmp_path, monkeypatch):
    monkeypatch.delenv("PARALLAX_STORAGE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    folder = StudioConfig.from_env("projects", "storage", "renders", "studio")
    assert folder.storage == str(tmp_path / "storage") and folder.projects == tmp_path / "projects"
    bucket = StudioConfig.from_env("projects", "s3://parallax/artifacts", "renders", "studio")
    assert bucket.storage == "s3://parallax/artifacts"
    monkeypatch.setenv("PARALLAX_STORAGE_DIR", "s3://other/prefix")
    assert StudioConfig.from_env("projects", "storage", "renders", "studio").storage == "s3://other/prefix"
