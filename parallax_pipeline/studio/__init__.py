"""The studio service (`parallax serve`): an HTTP API and an upload page in front of the
pipeline, sharing its projects folder, artifact store and Dagster instance."""
