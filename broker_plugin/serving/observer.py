"""Feeding monitoring from the loop: metrics, health and drift, once per batch.

The consumer calls a few hooks (`tick`, `running`, `assigned`, `idle`, `batch`, `aborted`);
this class turns them into calls on `PluginMetrics`, `Health` and `DriftMonitor` (see their
modules), so the loop itself holds no monitoring code and runs without any (observer None).

Two choices made here:

* Dead letters are counted by reason; the *failure* counter (`alerts_failed_total{error}`)
  counts only rejections caused by an error (undecodable bytes, unknown schema, Avro errors).
  An alert that decodes but has too few points is normal for young objects: it is
  dead-lettered (`too_few_points`, `no_points`) but is not a failure, so the failure alert
  stays meaningful.
* End-to-end latency uses each survey's time scale: LSST's `midpointMjdTai` is TAI, ZTF's
  `jd` (hence our `alert_mjd`) is UTC, as are the compact demo alerts.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Protocol

import numpy as np

from broker_plugin.features import FeatureBatch
from broker_plugin.rejections import NOT_FAILURES
from broker_plugin.serving.config import DEFAULT_LAG_INTERVAL_S
from broker_plugin.serving.pipeline import BatchOutcome
from broker_plugin.serving.timing import StageTimes

__all__ = ["NOT_FAILURES", "HealthState", "MetricsSink", "ServingObserver"]

log = logging.getLogger("broker_plugin.observer")

class MetricsSink(Protocol):
    """The part of `metrics.PluginMetrics` the loop feeds (tests may pass their own)."""

    assigned_partitions: Any
    transactions_aborted: Any

    def consumed(self, n: int, topic: str) -> None: ...
    def stages(self, times: StageTimes) -> None: ...
    def dead_lettered(self, reason: str, n: int = 1) -> None: ...
    def failed(self, error: str, n: int = 1) -> None: ...
    def batch(self, n_alerts: int) -> None: ...
    def classified(self, probabilities: np.ndarray,
                   unknown: np.ndarray | None = None) -> None: ...
    def end_to_end(self, alert_mjd: np.ndarray, published_unix: float | None = None,
                   scale: str = "tai") -> None: ...
    def update_consumer_lag(self, consumer: Any, timeout: float = ...) -> None: ...


class HealthState(Protocol):
    """The part of `health.Health` the loop reports to."""

    def tick(self) -> None: ...
    def consumer_running(self, running: bool) -> None: ...
    def partitions_assigned(self, count: int) -> None: ...
    def broker_reachable(self, reachable: bool, bootstrap: str | None = None) -> None: ...
    def registry_reachable(self, reachable: bool, url: str | None = None) -> None: ...


class DriftSink(Protocol):
    """The part of `drift.DriftMonitor` the loop feeds."""

    def update(self, batch: FeatureBatch, probabilities: np.ndarray,
               points_per_band: np.ndarray | None = None,
               unknown_scores: np.ndarray | None = None) -> int: ...

#: Time scale of each survey's alert MJD; anything not listed is UTC.
TIME_SCALES = {"lsst": "tai"}


def time_scale(survey: str) -> str:
    """'tai' or 'utc': the time scale of `survey`'s alert MJD."""
    return TIME_SCALES.get(survey, "utc")


class ServingObserver:
    """Metrics + health + drift for one running consumer."""

    def __init__(
        self,
        metrics: MetricsSink,
        health: HealthState,
        drift: DriftSink | None = None,
        lag_interval_s: float = DEFAULT_LAG_INTERVAL_S,
    ) -> None:
        self.metrics = metrics
        self.health = health
        self.drift = drift
        self.lag_interval_s = float(lag_interval_s)
        self._assigned = 0
        self._last_lag = -float("inf")
        self.lag_errors: dict[str, int] = {}  # failed lag updates by exception type

    def tick(self) -> None:
        self.health.tick()

    def running(self, running: bool) -> None:
        self.health.consumer_running(running)

    def assigned(self, delta: int) -> None:
        self._assigned = max(self._assigned + delta, 0)
        self.health.partitions_assigned(self._assigned)
        self.metrics.assigned_partitions.set(self._assigned)
        self._last_lag = -float("inf")  # new partitions: refresh lag at the next chance

    def broker_reachable(self, reachable: bool, bootstrap: str | None = None) -> None:
        """The consumer's view of the cluster: /readyz answers 503 while it is unreachable."""
        self.health.broker_reachable(reachable, bootstrap)

    def registry_reachable(self, reachable: bool, url: str | None = None) -> None:
        """The schema registry's state: /readyz answers 503 while it cannot serve schemas."""
        self.health.registry_reachable(reachable, url)

    def idle(self, consumer: Any) -> None:
        self._maybe_lag(consumer)

    def aborted(self, n_messages: int) -> None:
        """An exactly-once transaction was aborted; its `n_messages` inputs will be re-read."""
        self.metrics.transactions_aborted.inc()

    def batch(self, messages: list[Any], outcome: BatchOutcome, consumer: Any) -> None:
        m = self.metrics
        for topic, n in Counter(msg.topic() for msg in messages).items():
            m.consumed(n, topic)
        m.stages(outcome.times)
        reasons = Counter(r.reason for r in outcome.rejected)
        for reason, n in reasons.items():
            m.dead_lettered(reason, n)
            if reason not in NOT_FAILURES:
                m.failed(reason, n)
        m.batch(len(messages))
        if outcome.probabilities is not None and len(outcome.probabilities):
            m.classified(outcome.probabilities, outcome.unknown)
            self._latency(outcome)
        if (
            self.drift is not None
            and outcome.features is not None
            and outcome.band_probabilities is not None
            and len(outcome.features)
        ):
            self.drift.update(
                outcome.features, outcome.band_probabilities, points_per_band=outcome.band_points,
                unknown_scores=outcome.band_unknown_scores,
            )
        self._maybe_lag(consumer)

    def _latency(self, outcome: BatchOutcome) -> None:
        """Alert time → now, per time scale (one vectorised call per scale in the batch)."""
        records = [c.record for c in outcome.classified]
        mjd = np.array([r["alert_mjd"] for r in records], dtype=np.float64)
        scales = np.array([time_scale(str(r["survey"])) for r in records])
        now = time.time()
        for scale in np.unique(scales):
            chosen = (scales == scale) & np.isfinite(mjd)
            if chosen.any():
                self.metrics.end_to_end(mjd[chosen], published_unix=now, scale=str(scale))

    def _maybe_lag(self, consumer: Any) -> None:
        now = time.monotonic()
        if now - self._last_lag >= self.lag_interval_s:
            self._last_lag = now
            # Lag is advisory: never stop the stream because a watermark query failed, but
            # say so (with the traceback, once per kind of error) instead of hiding it.
            try:
                self.metrics.update_consumer_lag(consumer, timeout=0.5)
            except Exception as exc:
                kind = type(exc).__name__
                self.lag_errors[kind] = self.lag_errors.get(kind, 0) + 1
                if self.lag_errors[kind] == 1:
                    log.warning("consumer lag not updated (%s: %s); the stream goes on",
                                kind, exc, exc_info=exc)
