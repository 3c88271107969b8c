"""Dagster IO manager over the content store: each partition points at its artifact."""


import dagster as dg

from parallax_pipeline.resources.storage import ArtifactStore
from parallax_pipeline.store import Artifact


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Stores `Artifact`s returned by assets; loads one, or a dict of them for fan-in.

    Assets write their files through `ArtifactStore.put` (so identical recipes are reused);
    this manager records which artifact each partition now points at. Inputs marked
    ``fan_in`` (many scene partitions into one project) load as ``{partition_key: Artifact}``,
    and with ``allow_missing_partitions`` partitions never made are skipped: the
    project × scene cross product holds keys that name no real scene.
    """

    store: dg.ResourceDependency[ArtifactStore]

    def handle_output(self, context: dg.OutputContext, obj: Artifact) -> None:
        if not isinstance(obj, Artifact):
            raise TypeError(f"{context.asset_key.to_user_string()} must return an Artifact, got {type(obj).__name__}")
        self.store.open().point(_asset_name(context.asset_key), context.partition_key, obj)

    def load_input(self, context: dg.InputContext) -> Artifact | dict[str, Artifact]:
        store = self.store.open()
        name = _asset_name(context.asset_key)
        metadata = context.definition_metadata or {}
        if not metadata.get("fan_in"):
            artifact = store.load(name, context.asset_partition_key) if context.has_asset_partitions else None
            if artifact is None:
                raise FileNotFoundError(f"{name} has no artifact for {context.asset_partition_key!r}: materialize it first")
            return artifact
        loaded = {key: store.load(name, key) for key in context.asset_partition_keys}
        missing = sorted(key for key, artifact in loaded.items() if artifact is None)
        if missing and not metadata.get("allow_missing_partitions"):
            raise FileNotFoundError(f"{name} has no artifacts for partitions {missing}")
        return {key: artifact for key, artifact in loaded.items() if artifact is not None}


def _asset_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)
