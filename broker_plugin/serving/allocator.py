"""glibc malloc settings for a process that consumes big alerts: keep freed memory for reuse.

A 300-point LSST alert is about 104 KB, a 1,000-point one 345 KB; confluent-kafka copies each
into a new bytes object, and a batch of 500 frees them all again. glibc serves blocks over
its mmap threshold (128 KB at start, raised as blocks are freed) with fresh mmaps, and trims
the heap once 2x that threshold is free at its top, so every batch page-faults its payloads
(and the decoder's temporaries) in again. Measured on the 2-core development machine
(`bench/bench_consume.py`, main-thread CPU of `Consumer.consume` per message): 300 points
29 -> 20 us, 1,000 points 137 -> 91 us, i.e. about 3.8 GB/s, a plain copy's speed
(bench/results/consume-malloc-2026-12-07.txt). Raising the mmap threshold and
the trim threshold keeps that memory mapped between batches: the process keeps up to
`TRIM_THRESHOLD` of freed heap instead of returning it (RSS stays near its batch peak).

Linux glibc only (`mallopt` through ctypes); elsewhere (musl, macOS) it does nothing, and
`SELFREG_KEEP_FREED_MEMORY=0` in the environment turns it off (to compare, or to give memory
back between batches at the price above).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("broker_plugin.allocator")

#: mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
#: Blocks under this come from the heap (a 1,000-point batch's payloads and arrays do).
MMAP_THRESHOLD = 32 << 20
#: Free heap kept at its top before it is returned to the system.
TRIM_THRESHOLD = 512 << 20
#: Extra heap asked for at each growth, so a batch grows it in few steps.
TOP_PAD = 64 << 20

_done = False


def keep_freed_memory() -> bool:
    """Apply the settings once per process; True when glibc accepted them."""
    global _done
    if os.environ.get("SELFREG_KEEP_FREED_MEMORY", "1").strip() in ("0", "false", "no"):
        return False
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or None)
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # glibc only: musl has mallopt stubs
    except (OSError, AttributeError):
        return False
    del gnu
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD),
        )
    )
    _done = ok
    log.debug("glibc malloc: mmap threshold %d, trim threshold %d, top pad %d: %s",
              MMAP_THRESHOLD, TRIM_THRESHOLD, TOP_PAD, "set" if ok else "refused")
    return ok
