"""Consumer configuration: one object built from CLI options / environment, secrets masked.

Every option of `broker-plugin run` is also an environment variable `BROKER_PLUGIN_<NAME>`
(typer `envvar=`), the Kubernetes-friendly way; librdkafka settings pass through unchanged
as `-X key=value` (SASL/SSL included). The settings we own for correctness (auto-commit and
auto offset-store off, cooperative-sticky assignment, idempotent producer) are applied last
unless the user overrides them on purpose, and the startup log prints the effective settings
with every secret replaced by `***`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker_plugin.drift import DEFAULT_DRIFT_MIN_WINDOW, DEFAULT_DRIFT_WINDOW, DriftThresholds
from broker_plugin.errors import UserError

ENV_PREFIX = "BROKER_PLUGIN_"
#: Seconds between consumer-lag updates (a watermark query per assigned partition).
DEFAULT_LAG_INTERVAL_S = 5.0

#: librdkafka keys whose values must never reach a log (matched as substrings, lower case).
_SECRET_MARKERS = ("password", "secret", "sasl.jaas.config", "ssl.key.pem", "token")

#: What `--output-format` accepts (serving.output; elasticc: serving.elasticc).
OUTPUT_FORMATS = ("avro", "json", "elasticc")

#: Settings the delivery guarantee depends on (see `consumer_settings`).
CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "partition.assignment.strategy": "cooperative-sticky",
    "session.timeout.ms": 45000,
    "max.poll.interval.ms": 300000,
}
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
}
#: Keys that belong to one client only; librdkafka warns when given to the other (e.g.
#: "fetch.message.max.bytes is a consumer property and will be ignored by this producer").
#: Exact names, aliases included, as librdkafka 2.x's CONFIGURATION.md marks them C or P
#: (`rd_kafka_conf_properties_show`); everything else (`*`: security, timeouts...) goes to both.
_CONSUMER_ONLY: frozenset[str] = frozenset(
    {
        "group.id", "group.instance.id", "group.protocol", "group.protocol.type",
        "group.remote.assignor", "partition.assignment.strategy", "session.timeout.ms",
        "heartbeat.interval.ms", "coordinator.query.interval.ms", "max.poll.interval.ms",
        "max.poll.records", "enable.auto.commit", "auto.commit.enable",
        "auto.commit.interval.ms", "enable.auto.offset.store", "auto.offset.reset",
        "queued.min.messages", "queued.max.messages.kbytes", "fetch.wait.max.ms",
        "fetch.queue.backoff.ms", "fetch.message.max.bytes", "max.partition.fetch.bytes",
        "fetch.max.bytes", "fetch.min.bytes", "fetch.error.backoff.ms", "isolation.level",
        "enable.partition.eof", "check.crcs", "offset.store.method", "offset.store.path",
        "offset.store.sync.interval.ms", "consume.callback.max.messages",
        "share.acknowledgement.mode",
    }
)  # fmt: skip
_PRODUCER_ONLY: frozenset[str] = frozenset(
    {
        "transactional.id", "transaction.timeout.ms", "enable.idempotence",
        "enable.gapless.guarantee", "queue.buffering.max.messages",
        "queue.buffering.max.kbytes", "queue.buffering.max.ms", "linger.ms",
        "message.send.max.retries", "retries", "queue.buffering.backpressure.threshold",
        "compression.codec", "compression.type", "compression.level", "batch.num.messages",
        "batch.size", "delivery.report.only.error", "sticky.partitioning.linger.ms",
        "request.required.acks", "acks", "request.timeout.ms", "message.timeout.ms",
        "delivery.timeout.ms", "queuing.strategy", "produce.offset.report", "partitioner",
    }
)  # fmt: skip


class ConfigError(UserError, ValueError):
    """A serving option that cannot work; the message names the option and the fix."""


def is_secret(key: str) -> bool:
    """True for librdkafka keys whose values are credentials."""
    key = key.lower()
    return any(marker in key for marker in _SECRET_MARKERS)


def mask_url_credentials(url: str) -> str:
    """`https://user:pass@host/...` → `https://***@host/...` (for logs)."""
    return re.sub(r"(?<=://)[^/@]+@", "***@", url)


def mask_secrets(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy for logging: credential values replaced by '***'."""
    return {k: ("***" if is_secret(k) else v) for k, v in settings.items()}


_KEY = re.compile(r"^[a-z][a-z0-9_.]*$")


def parse_kafka_settings(items: Iterable[str]) -> dict[str, str]:
    """`key=value` strings (from -X or BROKER_PLUGIN_KAFKA_SETTINGS) → a dict, checked."""
    settings: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            shown = f"{key}=***" if is_secret(key) else item
            raise ConfigError(
                f"librdkafka setting {shown!r} is not key=value "
                "(e.g. -X security.protocol=SASL_SSL)"
            )
        settings[key] = value
    return settings


def split_topics(values: Iterable[str]) -> list[str]:
    """Topics given repeatedly, comma- or space-separated (an env var holds one string)."""
    topics: list[str] = []
    for value in values:
        for topic in re.split(r"[,\s]+", value.strip()):
            if topic and topic not in topics:
                topics.append(topic)
    return topics


#: What `--survey` accepts: the alerts the input topics carry.
INPUT_SURVEYS = ("lsst", "ztf", "compact", "auto")
#: The one line `run` (and the chart) stop with when LSST input has no schema source.
NO_SCHEMA_SOURCE = (
    "LSST alerts arrive in Confluent wire format and need their writer schemas: pass "
    "--schema-registry-url URL (chart: schemaRegistryUrl) or --schema-dir DIR (chart: "
    "schemaDir; e.g. lsst-alert-packet's schema folder); for ZTF or compact alert "
    "containers pass --survey ztf or --survey compact"
)


@dataclass
class ServingConfig:
    """Everything `broker-plugin run` needs; built by the CLI, used by `AlertConsumer`."""

    bootstrap_servers: str
    input_topics: list[str]
    output_topic: str
    dlq_topic: str
    group_id: str
    model_dir: Path
    schema_registry_url: str | None = None
    schema_dir: Path | None = None
    survey: str = "lsst"  # lsst | ztf | compact | auto: which alerts the input topics carry
    metrics_port: int | None = None  # None or 0: no HTTP endpoint, no metrics
    max_messages: int | None = None
    batch_size: int = 500
    batch_wait_ms: int = 200
    poll_slice_ms: int = 100
    exactly_once: bool = False
    transactional_id: str | None = None
    group_instance_id: str | None = None
    output_format: str = "avro"
    inference_threads: int = 1
    kafka_settings: dict[str, str] = field(default_factory=dict)
    lag_interval_s: float = DEFAULT_LAG_INTERVAL_S
    drift_window: int = DEFAULT_DRIFT_WINDOW
    drift_min_window: int = DEFAULT_DRIFT_MIN_WINDOW
    drift_psi_threshold: float = DriftThresholds.psi
    drift_ks_threshold: float = DriftThresholds.ks
    drift_js_threshold: float = DriftThresholds.js

    @property
    def metrics_enabled(self) -> bool:
        """True when /metrics, /healthz and /readyz are to be served."""
        return bool(self.metrics_port)

    @property
    def drift_thresholds(self) -> DriftThresholds:
        return DriftThresholds(
            psi=self.drift_psi_threshold, ks=self.drift_ks_threshold, js=self.drift_js_threshold
        )

    def __post_init__(self) -> None:
        if not self.input_topics:
            raise ConfigError("no input topic: pass --input-topic T (or BROKER_PLUGIN_INPUT_TOPIC)")
        overlap = {self.output_topic, self.dlq_topic} & set(self.input_topics)
        if overlap:
            raise ConfigError(
                f"topic(s) {sorted(overlap)} are both input and output; the plugin would "
                "consume its own records; choose distinct --output-topic/--dlq-topic"
            )
        if self.schema_registry_url and self.schema_dir:
            raise ConfigError(
                "both --schema-registry-url and --schema-dir given; choose one schema source"
            )
        if self.survey not in INPUT_SURVEYS:
            raise ConfigError(f"--survey must be one of {', '.join(INPUT_SURVEYS)}, got "
                              f"{self.survey!r}")
        if self.survey == "lsst" and not (self.schema_registry_url or self.schema_dir):
            raise ConfigError(NO_SCHEMA_SOURCE)
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.batch_wait_ms < 0:
            raise ConfigError(f"--batch-wait-ms must be >= 0, got {self.batch_wait_ms}")
        if self.max_messages is not None and self.max_messages < 1:
            raise ConfigError(f"--max-messages must be >= 1, got {self.max_messages}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(
                f"--metrics-port must be a TCP port 1-65535 (or 0 / --no-metrics to disable), "
                f"got {self.metrics_port}"
            )
        if self.lag_interval_s <= 0:
            raise ConfigError(f"--lag-interval must be > 0 seconds, got {self.lag_interval_s}")
        if self.drift_window < 1 or self.drift_min_window < 1:
            raise ConfigError(
                f"--drift-window ({self.drift_window}) and --drift-min-window "
                f"({self.drift_min_window}) must be >= 1"
            )
        for name in ("psi", "ks", "js"):
            value = getattr(self, f"drift_{name}_threshold")
            if not value > 0:
                raise ConfigError(f"--drift-{name}-threshold must be > 0, got {value}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(
                "--output-format must be 'avro', 'json' or 'elasticc' (ELAsTiCC "
                f"brokerClassification), got {self.output_format!r}"
            )

    def _common(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap_servers}

    def consumer_settings(self) -> dict[str, Any]:
        """librdkafka consumer settings: ours, then the user's pass-through on top."""
        settings = {**self._common(), **CONSUMER_DEFAULTS, "group.id": self.group_id}
        if self.group_instance_id:
            settings["group.instance.id"] = self.group_instance_id
        if self.exactly_once:
            settings["isolation.level"] = "read_committed"
        settings.update(_only(self.kafka_settings, exclude=_PRODUCER_ONLY))
        return settings

    def producer_settings(self) -> dict[str, Any]:
        """librdkafka producer settings; a transactional id when exactly-once is on."""
        settings = {**self._common(), **PRODUCER_DEFAULTS}
        if self.exactly_once:
            settings["transactional.id"] = self.transactional_id or f"{self.group_id}-txn"
        settings.update(_only(self.kafka_settings, exclude=_CONSUMER_ONLY))
        return settings

    def describe(self) -> dict[str, Any]:
        """What the startup log prints: every option, credentials masked."""
        return {
            "input_topics": self.input_topics,
            "output_topic": self.output_topic,
            "dlq_topic": self.dlq_topic,
            "group_id": self.group_id,
            "model": str(self.model_dir),
            "survey": self.survey,
            "schema_source": (mask_url_credentials(self.schema_registry_url)
                              if self.schema_registry_url else str(self.schema_dir or "none")),
            "batch_size": self.batch_size,
            "batch_wait_ms": self.batch_wait_ms,
            "exactly_once": self.exactly_once,
            "max_messages": self.max_messages,
            "metrics_port": self.metrics_port if self.metrics_enabled else "off",
            "lag_interval_s": self.lag_interval_s,
            "drift": {
                "window": self.drift_window,
                "min_window": self.drift_min_window,
                **self.drift_thresholds.to_dict(),
            },
            "consumer": mask_secrets(self.consumer_settings()),
            "producer": mask_secrets(self.producer_settings()),
        }


def _only(settings: Mapping[str, Any], exclude: frozenset[str]) -> dict[str, Any]:
    """`settings` without the keys of the other client (`_CONSUMER_ONLY`/`_PRODUCER_ONLY`)."""
    return {k: v for k, v in settings.items() if k not in exclude}
