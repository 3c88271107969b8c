"""A rendering process keeps the memory it frees and takes ordinary pages
(`engine.memory.reuse_freed_memory`), checked in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from parallax_pipeline.engine import memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and prctl are Linux's")

CHILD = r"""
import ctypes, json, resource, sys
import numpy as np
from parallax_pipeline.engine.memory import reuse_freed_memory
tuned = reuse_freed_memory()
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # both ways without huge pages: faults of 4 KiB to count
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # arrays a clip makes and drops, growing in size as its canvases do
    for mb in (12, 20, 28):
        np.ones(mb << 20, np.uint8)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({"tuned": tuned, "faults": faults, "thp": status.get("THP_enabled", "?").strip()}))
"""


def _child(keep: str) -> dict:
    env = dict(os.environ, **{memory.KEEP_FREED_MEMORY_VARIABLE: keep})
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_freed_arrays_are_reused_instead_of_faulted_in_again():
    kept, default = _child("1"), _child("0")
    assert kept["tuned"] and not default["tuned"]
    # 180 MB allocated in all: the default allocator maps and unmaps half of it anew
    # (22,500 faults of 4 KiB measured), the tuned one keeps the largest array's pages
    # (28 MB, 7,200) for the others
    assert default["faults"] > 15_000
    assert kept["faults"] < 0.5 * default["faults"]
    # (the default child may inherit huge pages off from this process: the setting
    # passes to children, and tests here render clips)
    assert kept["thp"] in ("0", "?")  # in /proc/self/status since Linux 5.0


def test_this_process_is_set_once_and_stays_set():
    """In this process (no variable set): done on the first call, the same on the next,
    and huge pages are off for it."""
    assert memory.reuse_freed_memory() == memory.reuse_freed_memory()
    if os.environ.get(memory.KEEP_FREED_MEMORY_VARIABLE, "1") != "0":
        assert memory.reuse_freed_memory() is True
        status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        assert status.get("THP_enabled", "0").strip() == "0"
