"""Prometheus metrics of the broker plugin, in a dedicated registry, fed once per batch.

Every name starts with one prefix (default ``broker_plugin``); counters end in ``_total``,
durations are histograms in ``_seconds``. Labels are low-cardinality only (topic, partition,
stage, error type, reason, class, model version): never object or source ids.

Wiring in the consumer loop (everything takes arrays or counts, never one call per alert)::

    metrics = PluginMetrics(model_name=card.name, model_version=card.version,
                            classes=card.classes)
    server = start_http_server(port, metrics.registry, health)   # broker_plugin.http_server
    ...
    metrics.consumed(len(messages), topic)             # per topic, per batch
    with times.stage("decode"):                          # decode | features | inference |
        ...                                              # build | produce | commit
    metrics.failed("avro_error", 2)
    metrics.dead_lettered("bad_magic", 1)
    metrics.batch(n_alerts)
    metrics.classified(probabilities)                    # (N, n_classes) -> class counts,
                                                         # top-probability histogram
    metrics.end_to_end(alert_mjd, published_unix, scale="tai")   # vectorised latencies
    metrics.update_consumer_lag(consumer)                # every few seconds

Metric names (prefix ``broker_plugin``)::

    _alerts_consumed_total{topic}            messages taken from Kafka
    _alerts_classified_total{model_version}  output records (one per alert) produced
    _alerts_failed_total{error}              alerts rejected for an error (not for too few
                                             points), by error type
    _dead_letters_total{reason}              messages sent to the dead-letter topic, by reason
    _stage_duration_seconds{stage}           per-batch time in each stage (histogram)
    _end_to_end_latency_seconds              alert time (exposure midpoint) -> publish (histogram)
    _batch_size_alerts                       alerts per batch (histogram)
    _consumer_lag_messages{topic,partition}  high watermark − position
    _assigned_partitions                     partitions this pod owns now
    _transactions_aborted_total              exactly-once transactions aborted (batch re-read)
    _predictions_total{model_version,predicted_class}   top class (also of unknown alerts)
    _unknown_total{model_version}            alerts flagged unknown (none of the classes)
    _top_probability{model_version}          top class probability (histogram)
    _last_batch_timestamp_seconds            unix time of the last finished batch
    _build_info{version,python,onnxruntime}  1
    _model_info{name,version,onnx_sha256,classes}  1
    (and the drift gauges of broker_plugin.drift)
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from broker_plugin.serving.timing import StageTimes

DEFAULT_PREFIX = "broker_plugin"
STAGES = ("decode", "features", "inference", "build", "produce", "commit")

# MJD 40587.0 is the unix epoch; TAI − UTC has been 37 s since 2017-01-01 (no leap second
# since, and none announced). LSST times are TAI (midpointMjdTai); ZTF's jd is UTC.
MJD_UNIX_EPOCH = 40587.0
TAI_MINUS_UTC_SECONDS = 37.0

STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                 5.0, 10.0, 30.0)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                   1800.0, 3600.0, 21600.0, 86400.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
PROBABILITY_BUCKETS = tuple(np.round(np.arange(0.2, 1.0001, 0.05), 2).tolist())


def mjd_to_unix(mjd: np.ndarray | float, scale: str = "tai") -> np.ndarray:
    """Unix seconds (UTC) of Modified Julian Dates on the TAI or UTC time scale."""
    if scale not in ("tai", "utc"):
        raise ValueError(f"time scale must be 'tai' or 'utc', got {scale!r}")
    unix = (np.asarray(mjd, dtype=np.float64) - MJD_UNIX_EPOCH) * 86400.0
    return unix - TAI_MINUS_UTC_SECONDS if scale == "tai" else unix


class BulkHistogram(Collector):
    """A histogram observed with whole arrays at once (numpy), exported with the public API.

    prometheus_client's Histogram only observes one value per call; at thousands of alerts
    per second that Python loop shows. This keeps per-label-set bucket counts in numpy.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self.labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], list[Any]] = {}
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def observe(self, values: np.ndarray, labels: Sequence[str] = ()) -> None:
        """Add every finite value of `values` to the series of `labels`."""
        values = np.asarray(values, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {labels}")
        index = np.searchsorted(self.bounds, values, side="left")  # le semantics
        counts = np.bincount(index, minlength=self.bounds.size + 1)
        with self._lock:
            series = self._series.setdefault(
                tuple(labels), [np.zeros(self.bounds.size + 1, dtype=np.int64), 0.0]
            )
            series[0] += counts
            series[1] += float(values.sum())

    def describe(self) -> Iterable[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            items = [(k, v[0].copy(), v[1]) for k, v in self._series.items()]
        for labels, counts, total in items:
            cumulative = np.cumsum(counts)
            buckets = [
                (_format_bound(b), float(c))
                for b, c in zip(self.bounds, cumulative[:-1], strict=True)
            ]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric(list(labels), buckets, total)
        return [family]


def _format_bound(bound: float) -> str:
    return repr(float(bound))


class PluginMetrics:
    """All plugin metrics in one registry (its own, so tests and several plugins never clash)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        prefix: str = DEFAULT_PREFIX,
        model_name: str = "",
        model_version: str = "",
        classes: Sequence[str] = (),
        onnx_sha256: str = "",
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.prefix = p = prefix
        self.model_version = model_version
        self.classes = list(classes)
        r = self.registry
        self.alerts_consumed = Counter(
            f"{p}_alerts_consumed", "Alert messages consumed from Kafka", ["topic"], registry=r
        )
        self.alerts_classified = Counter(
            f"{p}_alerts_classified", "Alerts classified and produced", ["model_version"],
            registry=r,
        )
        self.alerts_failed = Counter(
            f"{p}_alerts_failed", "Alerts that failed, by error type", ["error"], registry=r
        )
        self.dead_letters = Counter(
            f"{p}_dead_letters", "Messages sent to the dead-letter topic, by reason", ["reason"],
            registry=r,
        )
        self.stage_duration = Histogram(
            f"{p}_stage_duration_seconds", "Wall time of one batch in each pipeline stage",
            ["stage"], buckets=STAGE_BUCKETS, registry=r,
        )
        self.end_to_end_latency = BulkHistogram(
            f"{p}_end_to_end_latency_seconds",
            "Alert time (exposure midpoint) to publication of its classification",
            LATENCY_BUCKETS, registry=r,
        )
        self.batch_size = Histogram(
            f"{p}_batch_size_alerts", "Alerts per processed batch", buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            f"{p}_consumer_lag_messages", "High watermark minus consumer position",
            ["topic", "partition"], registry=r,
        )
        self.assigned_partitions = Gauge(
            f"{p}_assigned_partitions", "Partitions assigned to this consumer", registry=r
        )
        self.transactions_aborted = Counter(
            f"{p}_transactions_aborted", "Exactly-once transactions aborted (batch re-read)",
            registry=r,
        )
        self.predictions = Counter(
            f"{p}_predictions", "Predicted classes", ["model_version", "predicted_class"],
            registry=r,
        )
        self.unknown = Counter(
            f"{p}_unknown", "Alerts flagged unknown: unknown score above the card's threshold",
            ["model_version"], registry=r,
        )
        self.top_probability = BulkHistogram(
            f"{p}_top_probability", "Top class probability of each classified alert",
            PROBABILITY_BUCKETS, ["model_version"], registry=r,
        )
        self.last_batch = Gauge(
            f"{p}_last_batch_timestamp_seconds", "Unix time of the last finished batch",
            registry=r,
        )
        self.build_info = Gauge(
            f"{p}_build_info", "Plugin build", ["version", "python", "onnxruntime"], registry=r
        )
        self.build_info.labels(
            version=_package_version("selfreg-varstars"),
            python=platform.python_version(),
            onnxruntime=_package_version("onnxruntime"),
        ).set(1)
        self.model_info = Gauge(
            f"{p}_model_info", "Model being served", ["name", "version", "onnx_sha256", "classes"],
            registry=r,
        )
        if model_name or model_version:
            self.model_info.labels(
                name=model_name, version=model_version, onnx_sha256=onnx_sha256[:12],
                classes=",".join(self.classes),
            ).set(1)
        # Zero-initialise known series so rate() and absent() work from the first scrape.
        for stage in STAGES:
            self.stage_duration.labels(stage=stage)
        self.alerts_classified.labels(model_version=model_version)
        self.unknown.labels(model_version=model_version)
        for name in self.classes:
            self.predictions.labels(model_version=model_version, predicted_class=name)
        self.top_probability.observe(np.empty(0), [model_version])
        self.end_to_end_latency.observe(np.empty(0))
        self._lag_series: set[tuple[str, str]] = set()

    def initialise_reasons(self, dead_letter_reasons: Iterable[str],
                           error_types: Iterable[str]) -> None:
        """Create the zero series of every known reason, so panels show 0, not "No data"."""
        for reason in dead_letter_reasons:
            self.dead_letters.labels(reason=reason)
        for error in error_types:
            self.alerts_failed.labels(error=error)

    # --- per batch -------------------------------------------------------------------------

    def consumed(self, n: int, topic: str) -> None:
        self.alerts_consumed.labels(topic=topic).inc(n)

    def failed(self, error: str, n: int = 1) -> None:
        """`error` is a short code (the decoder's reason, e.g. 'avro_error'), never a message."""
        self.alerts_failed.labels(error=error).inc(n)

    def dead_lettered(self, reason: str, n: int = 1) -> None:
        self.dead_letters.labels(reason=reason).inc(n)

    def batch(self, n_alerts: int) -> None:
        self.batch_size.observe(n_alerts)
        self.last_batch.set(time.time())

    def stages(self, times: StageTimes) -> None:
        """One batch's stage timings (`serving.timing.StageTimes`, the one stage timer)."""
        for name, seconds in times.seconds.items():
            self.stage_duration.labels(stage=name).observe(seconds)

    def classified(self, probabilities: np.ndarray, unknown: np.ndarray | None = None) -> None:
        """Counts per top class, unknown flags and the top-probability histogram of a batch."""
        probabilities = np.asarray(probabilities)
        if probabilities.size == 0:
            return
        if self.classes and probabilities.shape[1] != len(self.classes):
            raise ValueError(
                f"probabilities have {probabilities.shape[1]} columns, model has "
                f"{len(self.classes)} classes"
            )
        names = self.classes or [str(i) for i in range(probabilities.shape[1])]
        counts = np.bincount(probabilities.argmax(axis=1), minlength=len(names))
        for name, count in zip(names, counts, strict=True):
            if count:
                self.predictions.labels(
                    model_version=self.model_version, predicted_class=name
                ).inc(int(count))
        self.alerts_classified.labels(model_version=self.model_version).inc(len(probabilities))
        if unknown is not None and np.any(unknown):
            self.unknown.labels(model_version=self.model_version).inc(int(np.sum(unknown)))
        self.top_probability.observe(probabilities.max(axis=1), [self.model_version])

    def end_to_end(
        self, alert_mjd: np.ndarray, published_unix: float | None = None, scale: str = "tai"
    ) -> None:
        """Latency from each alert's time (MJD on `scale`) to publication (default: now)."""
        now = time.time() if published_unix is None else published_unix
        latency = now - mjd_to_unix(alert_mjd, scale)
        self.end_to_end_latency.observe(latency[latency >= 0])

    # --- consumer lag ----------------------------------------------------------------------

    def set_consumer_lag(self, lags: Iterable[tuple[str, int, int]]) -> None:
        """Replace the lag series with (topic, partition, lag) rows; revoked ones disappear."""
        seen: set[tuple[str, str]] = set()
        for topic, partition, lag in lags:
            key = (topic, str(partition))
            seen.add(key)
            self.consumer_lag.labels(topic=key[0], partition=key[1]).set(max(int(lag), 0))
        for key in self._lag_series - seen:
            self.consumer_lag.remove(*key)
        self._lag_series = seen
        self.assigned_partitions.set(len(seen))

    def update_consumer_lag(self, consumer: Any, timeout: float = 1.0) -> None:
        """Lag per assigned partition of a confluent_kafka.Consumer: high watermark − position.

        Uses the watermarks cached from fetch responses when present (no broker round trip),
        else asks the broker (bounded by `timeout`). A partition with no position yet falls
        back to its committed offset, then to the low watermark.
        """
        assignment = consumer.assignment()
        rows: list[tuple[str, int, int]] = []
        if not assignment:
            self.set_consumer_lag(rows)
            return
        positions = consumer.position(assignment)
        committed: dict[tuple[str, int], int] | None = None
        for tp in positions:
            low, high = consumer.get_watermark_offsets(tp, cached=True) or (-1, -1)
            if high < 0:
                low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            offset = tp.offset
            if offset < 0:
                if committed is None:
                    committed = {
                        (c.topic, c.partition): c.offset
                        for c in consumer.committed(assignment, timeout=timeout)
                    }
                offset = committed.get((tp.topic, tp.partition), -1)
            if offset < 0:
                offset = max(low, 0)
            rows.append((tp.topic, tp.partition, high - offset))
        self.set_consumer_lag(rows)


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
