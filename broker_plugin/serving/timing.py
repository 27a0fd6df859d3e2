"""Stage timings of one batch, kept in one place so metrics wiring is a few lines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STAGES = ("decode", "features", "inference", "build", "produce", "commit")


@dataclass
class StageTimes:
    """Seconds spent per stage (see STAGES) for one batch, plus its sizes."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def add(self, other: StageTimes) -> None:
        for name, value in other.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + value

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
