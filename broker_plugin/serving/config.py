"""Consumer configuration: one object built from CLI options / environment, secrets masked.

Every option of `broker-plugin run` is declared once, as a field of `ServingConfig` with
`option(...)` metadata (name, type, default, help; see `serving.options`): the command's
parameters are generated from these fields, and each is also an environment variable
`BROKER_PLUGIN_<NAME>`, the Kubernetes-friendly way; librdkafka settings pass through unchanged
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

from broker_plugin.default_model import resolve_model_dir
from broker_plugin.drift import DEFAULT_DRIFT_MIN_WINDOW, DEFAULT_DRIFT_WINDOW, DriftThresholds
from broker_plugin.errors import UserError
from broker_plugin.health import DEFAULT_LIVENESS_TIMEOUT
from broker_plugin.http_server import DEFAULT_METRICS_PORT
from broker_plugin.serving.options import ENV_PREFIX as ENV_PREFIX
from broker_plugin.serving.options import Option, declared_options, field_values, option
from broker_plugin.serving.pipeline import OVERLAP_CHUNK

#: Seconds between consumer-lag updates (a watermark query per assigned partition).
DEFAULT_LAG_INTERVAL_S = 5.0
#: Alerts per batch: `run`'s default, and `classify`'s and `capture`'s.
DEFAULT_BATCH_SIZE = 500

#: librdkafka keys whose values must never reach a log (matched as substrings, lower case):
#: sasl.password, ssl.key.password, ssl.keystore.password, sasl.oauthbearer.client.secret,
#: ...assertion.private.key.passphrase/.pem, sasl.oauthbearer.config (may hold a client
#: secret), ssl.key.pem, a registry client's basic.auth.user.info, tokens.
_SECRET_MARKERS = (
    "password", "passphrase", "secret", "sasl.jaas.config", "sasl.oauthbearer.config",
    "key.pem", "private.key", "ssl_key", "basic.auth", "user.info", "credential", "token",
)  # fmt: skip

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


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret value replaced by '***': for messages built
    from text we do not control (librdkafka's errors), which could echo a value given to it."""
    for value in sorted({v for v in secrets if v}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


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
    """Everything `broker-plugin run` needs; built by the CLI, used by `AlertConsumer`.

    Each field with `option(...)` metadata is one option of `run`, declared only here: its
    flag (`--<name>`), environment variable (`BROKER_PLUGIN_<NAME>`), type, default and help
    are generated from the field (`serving.options`). Fields without it (`poll_slice_ms`)
    are for code and tests only.
    """

    bootstrap_servers: str = field(
        metadata=option("Kafka bootstrap servers, host:port[,...].")
    )
    input_topics: list[str] = field(
        metadata=option(
            "Alert topic(s); repeat or comma-separate.", cli_name="input_topic",
            convert=split_topics,
        )
    )
    output_topic: str = field(metadata=option("Topic for classification records."))
    dlq_topic: str = field(metadata=option("Dead-letter topic for undecodable/invalid input."))
    group_id: str = field(metadata=option("Kafka consumer group."))
    model_dir: Path = field(
        metadata=option(
            "Model directory (model.onnx + model_card.json); default: the shipped model.",
            cli_name="model", cli_type=Path | None, cli_default=None, convert=resolve_model_dir,
        )
    )
    schema_registry_url: str | None = field(
        default=None, metadata=option("Confluent schema registry URL.")
    )
    schema_dir: Path | None = field(
        default=None, metadata=option("Directory of .avsc schemas (instead of a registry).")
    )
    # Which alerts the input topics carry (INPUT_SURVEYS).
    survey: str = field(
        default="lsst",
        metadata=option(
            "lsst (Confluent wire format: needs --schema-registry-url or --schema-dir), ztf "
            "or compact (self-describing Avro containers), or auto (any; LSST alerts then "
            "need a schema source too)."
        ),
    )
    # Built directly, None or 0 means no HTTP endpoint and no metrics; `run` serves them on
    # DEFAULT_METRICS_PORT unless told otherwise.
    metrics_port: int | None = field(
        default=None,
        metadata=option(
            "Serve /metrics, /healthz, /readyz on this port (0 disables them).",
            cli_type=int, cli_default=DEFAULT_METRICS_PORT,
        ),
    )
    metrics: bool = field(
        default=True,
        metadata=option(
            "Serve metrics and health probes (--no-metrics: none, e.g. for a quick replay).",
            flags=("--metrics/--no-metrics",),
        ),
    )
    lag_interval_s: float = field(
        default=DEFAULT_LAG_INTERVAL_S,
        metadata=option(
            "Seconds between consumer-lag updates (watermark queries).", cli_name="lag_interval"
        ),
    )
    drift_window: int = field(
        default=DEFAULT_DRIFT_WINDOW, metadata=option("Curves in the drift window.")
    )
    drift_min_window: int = field(
        default=DEFAULT_DRIFT_MIN_WINDOW,
        metadata=option(
            "Fewest curves in the window before drift is scored (scores are NaN before)."
        ),
    )
    drift_psi_threshold: float = field(
        default=DriftThresholds.psi, metadata=option("Drift flag at PSI >= this.")
    )
    drift_ks_threshold: float = field(
        default=DriftThresholds.ks, metadata=option("Drift flag at KS statistic >= this.")
    )
    drift_js_threshold: float = field(
        default=DriftThresholds.js,
        metadata=option("Drift flag at class-mix Jensen-Shannon distance >= this."),
    )
    max_messages: int | None = field(
        default=None, metadata=option("Stop cleanly after N input messages.")
    )
    batch_size: int = field(default=DEFAULT_BATCH_SIZE, metadata=option("Messages per batch."))
    batch_wait_ms: int = field(
        default=200, metadata=option("Max wait after a batch's first message.")
    )
    exactly_once: bool = field(
        default=False, metadata=option("Kafka transactions instead of at-least-once.")
    )
    transactional_id: str | None = field(
        default=None, metadata=option("Exactly-once: stable id per replica.")
    )
    group_instance_id: str | None = field(
        default=None, metadata=option("Static membership id (e.g. the pod name).")
    )
    output_format: str = field(
        default="avro",
        metadata=option(
            "avro (our schema, Confluent wire format), json, or elasticc (ELAsTiCC "
            "brokerClassification v0.9.1, Confluent wire format; alerts whose id is not an "
            "integer are dead-lettered as unencodable_id)."
        ),
    )
    inference_threads: int = field(default=1, metadata=option("onnxruntime intra-op threads."))
    overlap_chunk: int = field(
        default=OVERLAP_CHUNK,
        metadata=option(
            "Alerts per chunk when a batch is split so that inference (in a worker thread) "
            "overlaps the next chunk's decoding; 0 runs each batch in one piece."
        ),
    )
    kafka_settings: dict[str, str] = field(
        default_factory=dict,
        metadata=option(
            "librdkafka key=value pass-through (SASL/SSL...); repeatable.",
            flags=("--kafka-setting", "-X"), cli_type=list[str], cli_default=[],
            convert=parse_kafka_settings,
        ),
    )
    # Goes to both clients as sasl.password, over a `-X sasl.password=`; never in a repr.
    sasl_password: str | None = field(
        default=None,
        repr=False,
        metadata=option(
            "sasl.password (prefer the env var: it stays out of the process list)."
        ),
    )
    log_level: str = field(default="INFO", metadata=option("Logging level."))
    # The chart sets it from probes.livenessTimeoutSeconds.
    liveness_timeout: float = field(
        default=DEFAULT_LIVENESS_TIMEOUT,
        metadata=option(
            "Seconds without a poll-loop tick before /healthz fails (keep it above the "
            "longest batch)."
        ),
    )
    poll_slice_ms: int = 100

    @classmethod
    def options(cls) -> list[Option]:
        """The options of `broker-plugin run`, in `--help` order (see `serving.options`)."""
        return declared_options(cls)

    @classmethod
    def from_options(cls, values: dict[str, Any]) -> ServingConfig:
        """The config from `run`'s parsed option values (keyed by option name)."""
        return cls(**field_values(cls.options(), values))

    @property
    def metrics_enabled(self) -> bool:
        """True when /metrics, /healthz and /readyz are to be served."""
        return self.metrics and bool(self.metrics_port)

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
        if self.overlap_chunk < 0:
            raise ConfigError(f"--overlap-chunk must be >= 0 (0: no overlap), got "
                              f"{self.overlap_chunk}")
        if self.max_messages is not None and self.max_messages < 1:
            raise ConfigError(f"--max-messages must be >= 1, got {self.max_messages}")
        if self.metrics and self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(
                f"--metrics-port must be a TCP port 1-65535 (or 0 / --no-metrics to disable), "
                f"got {self.metrics_port}"
            )
        if not self.liveness_timeout > 0:
            raise ConfigError(
                f"--liveness-timeout must be > 0 seconds, got {self.liveness_timeout}"
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

    def _passthrough(self, exclude: frozenset[str]) -> dict[str, Any]:
        """The user's -X settings for one client, and --sasl-password over them."""
        settings = _only(self.kafka_settings, exclude=exclude)
        if self.sasl_password:
            settings["sasl.password"] = self.sasl_password
        return settings

    def consumer_settings(self) -> dict[str, Any]:
        """librdkafka consumer settings: ours, then the user's pass-through on top."""
        settings = {**self._common(), **CONSUMER_DEFAULTS, "group.id": self.group_id}
        if self.group_instance_id:
            settings["group.instance.id"] = self.group_instance_id
        if self.exactly_once:
            settings["isolation.level"] = "read_committed"
        settings.update(self._passthrough(exclude=_PRODUCER_ONLY))
        return settings

    def producer_settings(self) -> dict[str, Any]:
        """librdkafka producer settings; a transactional id when exactly-once is on."""
        settings = {**self._common(), **PRODUCER_DEFAULTS}
        if self.exactly_once:
            settings["transactional.id"] = self.transactional_id or f"{self.group_id}-txn"
        settings.update(self._passthrough(exclude=_CONSUMER_ONLY))
        return settings

    def secret_values(self) -> list[str]:
        """The credential values of this config (-X secrets, --sasl-password, the registry
        URL's password), for `redact`."""
        values = [str(v) for k, v in self.kafka_settings.items() if is_secret(k)]
        if self.sasl_password:
            values.append(self.sasl_password)
        if self.schema_registry_url:
            match = re.search(r"://[^/@:]*:([^/@]+)@", self.schema_registry_url)
            if match:
                values.append(match.group(1))
        return values

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
            "overlap_chunk": self.overlap_chunk,
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
