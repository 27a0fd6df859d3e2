"""Assembling the parts from options: decoder, classifier, pipeline, serializer, monitoring.

One place builds them so `run`, `classify` and the bench get the very same pipeline.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.config import ConfigError, ServingConfig
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.pipeline import OVERLAP_CHUNK, AlertPipeline

log = logging.getLogger("broker_plugin.service")


def make_schema_source(registry_url: str | None, schema_dir: Path | None) -> Any:
    """The decoder's schema source: registry, directory, or none (containers carry theirs)."""
    from broker_plugin import decoding

    if registry_url:
        return decoding.RegistrySchemaSource(registry_url)
    if schema_dir is not None:
        if not Path(schema_dir).is_dir():
            raise ConfigError(f"--schema-dir {schema_dir}: not a directory of .avsc files")
        return decoding.DirectorySchemaSource(schema_dir)
    return None


def make_decoder(
    registry_url: str | None = None, schema_dir: Path | None = None, survey: str | None = None
) -> Any:
    """The `AlertDecoder` of `run`, `classify` and `capture`, its schema source from options."""
    from broker_plugin.decoding import AlertDecoder

    if registry_url and schema_dir is not None:
        raise ConfigError(
            "both --schema-registry-url and --schema-dir given; choose one schema source"
        )
    source = make_schema_source(registry_url, schema_dir)
    return AlertDecoder(source, survey=survey) if survey else AlertDecoder(source)


def make_pipeline(
    model_dir: Path,
    registry_url: str | None = None,
    schema_dir: Path | None = None,
    threads: int = 1,
    survey: str | None = None,
    overlap_chunk: int = OVERLAP_CHUNK,
) -> AlertPipeline:
    """Decoder + classifier for one model; the same object serves run, classify and bench."""
    classifier = Classifier(model_dir, threads=threads)
    return AlertPipeline(make_decoder(registry_url, schema_dir, survey), classifier,
                         overlap_chunk)


def output_schema() -> dict[str, Any]:
    """Our classification output schema as JSON (from broker_plugin.avro.schema_files)."""
    from broker_plugin.avro import schema_files as schemas

    return schemas.raw(schemas.CLASSIFICATION)


def make_serializer(config: ServingConfig) -> OutputSerializer:
    """Avro wire format (schema id from the registry when there is one), JSON, or ELAsTiCC.

    `elasticc` writes ELAsTiCC's brokerClassification schema in the same wire format (see
    serving.elasticc); pair it with `output_pipeline`, which dead-letters ids it cannot carry.
    """
    if config.output_format == "json":
        return OutputSerializer("json")
    if config.output_format == "elasticc":
        from broker_plugin.serving.elasticc import ElasticcSerializer, elasticc_schema

        schema = elasticc_schema()
        schema_id = 1
        if config.schema_registry_url:
            schema_id = register_schema(
                config.schema_registry_url, f"{config.output_topic}-value", schema
            )
        return ElasticcSerializer(schema, schema_id)
    schema = output_schema()
    schema_id = int(schema.get("schema_id", schema.get("x-schema-id", 1)))
    if config.schema_registry_url:
        schema_id = register_schema(
            config.schema_registry_url, f"{config.output_topic}-value", schema
        )
    return OutputSerializer("avro", schema, schema_id)


def output_pipeline(pipeline: AlertPipeline, output_format: str) -> AlertPipeline:
    """`pipeline` as the output format needs it: for `elasticc`, alerts whose id is not a
    64-bit integer go to the dead-letter topic (reason `unencodable_id`) instead of the output.
    """
    if output_format != "elasticc":
        return pipeline
    from broker_plugin.serving.elasticc import ElasticcPipeline

    return ElasticcPipeline.wrapping(pipeline)


def register_schema(url: str, subject: str, schema: dict[str, Any]) -> int:
    """Register `schema` under `subject` (Confluent REST API); returns its global id."""
    import urllib.request

    from broker_plugin.decoding.schema_sources import split_credentials

    url, auth = split_credentials(url.rstrip("/"))  # user:pass@ -> Basic auth, out of logs
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    if auth:
        headers["Authorization"] = auth
    body = json.dumps({"schema": json.dumps(schema)}).encode()
    request = urllib.request.Request(
        f"{url}/subjects/{subject}/versions", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(json.loads(response.read())["id"])
    except OSError as exc:
        raise ConfigError(
            f"schema registry {url}: cannot register the output schema under {subject!r} "
            f"({exc}); check --schema-registry-url or use --output-format json"
        ) from exc


def make_observer(pipeline: AlertPipeline, config: ServingConfig) -> tuple[Any, Any]:
    """(observer, http server) when metrics are on (`config.metrics_enabled`), else (None, None).

    The server is up before the consumer subscribes, so /healthz answers during start-up and
    /readyz says 503 until the loop runs. A port already in use is a user error, not a
    traceback: two plugins on one host need different --metrics-port values.
    """
    if not config.metrics_enabled:
        return None, None
    from broker_plugin.drift import DriftMonitor
    from broker_plugin.health import Health
    from broker_plugin.http_server import start_http_server
    from broker_plugin.metrics import PluginMetrics
    from broker_plugin.rejections import NOT_FAILURES, Reason
    from broker_plugin.serving.observer import ServingObserver

    card = pipeline.card
    metrics = PluginMetrics(
        model_name=card.name,
        model_version=card.version,
        classes=card.classes,
        onnx_sha256=card.onnx_sha256,
    )
    metrics.initialise_reasons(list(Reason), [r for r in Reason if r not in NOT_FAILURES])
    health = Health(config.liveness_timeout)
    health.model_loaded(card.version)
    drift = DriftMonitor.from_card(
        card,
        window=config.drift_window,
        min_window=config.drift_min_window,
        thresholds=config.drift_thresholds,
        registry=metrics.registry,
        prefix=metrics.prefix,
    )
    if drift is None:
        log.warning(
            "model card %s:%s carries no drift reference; drift gauges are off "
            "(re-export the model with `training` to get them)",
            card.name,
            card.version,
        )
    port = int(config.metrics_port or 0)
    try:
        server = start_http_server(port, metrics.registry, health)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port}: cannot listen ({exc.strerror or exc}); choose a free port "
            "with --metrics-port (BROKER_PLUGIN_METRICS_PORT) or turn metrics off with "
            "--no-metrics"
        ) from exc
    log.info("metrics on http://0.0.0.0:%d/metrics (health: /healthz, /readyz)", server.port)
    observer = ServingObserver(metrics, health, drift, lag_interval_s=config.lag_interval_s)
    return observer, server
