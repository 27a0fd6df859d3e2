"""Throughput per core for benchmarks: items per CPU-second of a batch function."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def cpu_rate(process: Callable[[list[Any]], Any], items: Sequence[Any], batch: int,
             seconds: float) -> float:
    """Items per CPU-second of `process(chunk)` over `items` in chunks of `batch`, repeated
    until `seconds` of CPU time (process time: per core, robust to a shared machine).
    Two items go through first to warm caches (templates, schemas)."""
    process(list(items[:2]))
    done, start = 0, time.process_time()
    while True:
        for i in range(0, len(items), batch):
            chunk = list(items[i:i + batch])
            process(chunk)
            done += len(chunk)
            elapsed = time.process_time() - start
            if elapsed >= seconds:
                return done / elapsed
