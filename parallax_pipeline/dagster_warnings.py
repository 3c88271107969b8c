"""Dagster's own warnings that this project silences, in one place.

Dagster marks APIs the pipeline is built on as beta or preview
(`MultiToSingleDimensionPartitionMapping`, `Output(data_version=...)`, declarative
automation) and warns at every use, and one of its internals calls a deprecated method
of its own (`InitResourceContext.dagster_run`). Nothing in them is for a user to act on.
The code location (`definitions.py`: `dagster dev`, `dg dev`, `parallax run`) and the
test suite (`tests/conftest.py`) apply these same filters; warnings raised by the
project's own calls are fixed, never filtered. Matched by message, so this module
imports nothing (the engine stays free of Dagster).
"""

from __future__ import annotations

import warnings

MESSAGES = (
    r".*is currently in (beta|preview)",
    r"InitResourceContext\.dagster_run is deprecated",
)


def quiet() -> None:
    """Ignore the warnings in `MESSAGES` in this process."""
    for message in MESSAGES:
        warnings.filterwarnings("ignore", message=message)


def pytest_filters() -> list[str]:
    """The same filters in pytest's ``filterwarnings`` syntax."""
    return [f"ignore:{message}" for message in MESSAGES]
