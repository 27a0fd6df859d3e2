"""Feeding monitoring from the loop: metrics, health and drift, once per batch.

The consumer calls five hooks (`tick`, `running`, `assigned`, `batch`, `idle`); this class
turns them into calls on `PluginMetrics`, `Health` and `DriftMonitor` (see their modules), so
the loop itself holds no monitoring code and runs without any (observer None).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from typing import Any

import numpy as np

from broker_plugin.serving.pipeline import BatchOutcome

LAG_EVERY_S = 5.0


class ServingObserver:
    """Metrics + health + drift for one running consumer."""

    def __init__(self, metrics: Any, health: Any, drift: Any | None = None) -> None:
        self.metrics = metrics
        self.health = health
        self.drift = drift
        self._assigned = 0
        self._last_lag = 0.0

    def tick(self) -> None:
        self.health.tick()

    def running(self, running: bool) -> None:
        self.health.consumer_running(running)

    def assigned(self, delta: int) -> None:
        self._assigned = max(self._assigned + delta, 0)
        self.health.partitions_assigned(self._assigned)

    def idle(self, consumer: Any) -> None:
        self._maybe_lag(consumer)

    def batch(self, messages: list[Any], outcome: BatchOutcome, consumer: Any) -> None:
        m = self.metrics
        for topic, n in Counter(msg.topic() for msg in messages).items():
            m.consumed(n, topic)
        for stage, seconds in outcome.times.seconds.items():
            m.stage_duration.labels(stage=stage).observe(seconds)
        for reason, n in Counter(r.reason for r in outcome.rejected).items():
            m.dead_lettered(reason, n)
        m.batch(len(messages))
        if outcome.probabilities is not None and len(outcome.probabilities):
            m.classified(outcome.probabilities)
            mjd = np.array([c.record["alert_mjd"] for c in outcome.classified], dtype=np.float64)
            m.end_to_end(mjd[np.isfinite(mjd)])
        if (
            self.drift is not None
            and outcome.features is not None
            and outcome.band_probabilities is not None
            and len(outcome.features)
        ):
            self.drift.update(
                outcome.features, outcome.band_probabilities, points_per_band=outcome.band_points
            )
        self._maybe_lag(consumer)

    def _maybe_lag(self, consumer: Any) -> None:
        now = time.monotonic()
        if now - self._last_lag >= LAG_EVERY_S:
            self._last_lag = now
            # Lag is advisory: never stop the stream because a watermark query failed.
            with contextlib.suppress(Exception):
                self.metrics.update_consumer_lag(consumer, timeout=0.5)
