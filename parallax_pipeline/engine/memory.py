"""How a rendering process takes memory: reused from its own heap, in ordinary pages.

A clip allocates and frees many arrays of a few MB (canvases, layers, frames, pictures),
and a process renders from a cold start (each run is a fresh process). By default two
things make the kernel hand it fresh pages again and again:

- glibc gives arrays above its mmap threshold (128 KiB at first, raised by each free
  up to 32 MiB) their own mapping and unmaps them when freed, and trims the heap's top;
- numpy (arrays of 4 MiB and more) and x264 (its frame buffers) ask for transparent
  huge pages (``madvise``), which come from the largest free blocks.

A fresh page costs a fault, and under a hypervisor that takes the guest's free memory
back (free page reporting, which reports exactly those large free blocks) far more than
on bare metal: on the 2-core VM the benchmarks run on, 12 ms per MB of fresh huge pages
and about 9 µs per 4 KiB page. There a 1080p clip rendered by a fresh process took
6.96 s (median of three), 3.94 s of it in the kernel; with `reuse_freed_memory` 4.32 s,
0.34 s in the kernel, as fast as in a process that had rendered before
(`benchmarks/cold_clip.py`).
On bare metal it saves the faults' zeroing and changes nothing else: huge pages made no
measurable difference to the frame loop (18.8 ms a 1080p frame either way).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Arrays up to this size come from the heap (glibc's largest threshold: a larger one is
refused); only a larger one, such as a clip's layer atlas, gets its own mapping."""
KEEP_FREED_MEMORY_VARIABLE = "PARALLAX_KEEP_FREED_MEMORY"
"""Set to 0 to leave the allocators as they are (`benchmarks/cold_clip.py` compares)."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_PR_SET_THP_DISABLE = 41  # Linux's prctl option
_KEEP_ALL = 2**31 - 1  # bytes free at the heap's top before it is trimmed (an int)


@functools.cache
def reuse_freed_memory() -> bool:
    """Make this process keep the memory it frees for its next arrays, and take ordinary
    pages instead of transparent huge pages (it and the processes it starts); see the
    module docstring. Process-wide and lasting; calls after the first do nothing.
    Returns whether it was done: False off Linux's glibc, or when the environment sets
    `KEEP_FREED_MEMORY_VARIABLE` to 0 (memory is then taken the default way)."""
    if os.environ.get(KEEP_FREED_MEMORY_VARIABLE, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        mallopt, prctl = libc.mallopt, libc.prctl
    except (OSError, AttributeError):  # musl and others: their own allocator, left as it is
        return False
    # numpy and x264 both ask for huge pages for their large buffers: this process and
    # the ones forked from it get ordinary pages
    prctl.argtypes, prctl.restype = (ctypes.c_int,) + (ctypes.c_ulong,) * 4, ctypes.c_int
    prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # setting either turns glibc's sliding thresholds off; both then hold for the process
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_ALL))
