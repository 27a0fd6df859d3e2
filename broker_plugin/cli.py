"""The `broker-plugin` command line: serve a model on Kafka alert streams, or replay files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from broker_plugin.cli_support import run_app, typer_option, with_options
from broker_plugin.default_model import resolve_model_dir
from broker_plugin.features import featurise_batch
from broker_plugin.lightcurve_dir import read_lightcurve_dir
from broker_plugin.serving.config import DEFAULT_BATCH_SIZE, ServingConfig

if TYPE_CHECKING:
    from broker_plugin.serving.capture import CaptureSummary

app = typer.Typer(
    name="broker-plugin",
    help="Online side: classify variable stars in LSST/ZTF alert streams with an ONNX model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


@app.callback()
def _root() -> None:
    """Keep sub-commands explicit even while few exist."""


@app.command()
def features(
    directory: Path = typer.Argument(..., help="A light-curve directory (manifest.csv + files)."),
) -> None:
    """Summarise the (Δt, Δm) sequences the model would see for a light-curve directory."""
    curves = read_lightcurve_dir(directory)
    batch = featurise_batch(curves)
    table = Table(title=f"{directory}: {len(curves)} curves")
    for column in ("label", "curves", "median length", "empty"):
        table.add_column(column)
    labels = sorted({c.label or "-" for c in curves})
    for label in labels:
        rows = [i for i, c in enumerate(curves) if (c.label or "-") == label]
        lengths = batch.lengths[rows]
        median = float(np.median(lengths)) if rows else 0.0
        table.add_row(label, str(len(rows)), f"{median:.0f}", str(int((lengths == 0).sum())))
    console.print(table)


#: `classify`'s exit status when no input was classified (2 is a usage error).
NOTHING_CLASSIFIED_EXIT = 3


#: `run`'s options, each declared once as a field of ServingConfig (see serving/options.py).
RUN_OPTIONS = ServingConfig.options()
_OPTION = {o.name: o for o in RUN_OPTIONS}

# Options that mean the same in several commands: `run`'s declarations.
_SCHEMA_REGISTRY_URL = typer_option(_OPTION["schema_registry_url"])
_SCHEMA_DIR = typer_option(_OPTION["schema_dir"])
_KAFKA_SETTING = typer_option(_OPTION["kafka_settings"])
_SASL_PASSWORD = typer_option(_OPTION["sasl_password"])


@app.command()
@with_options(RUN_OPTIONS)
def run(**options: Any) -> None:
    """Consume alerts from Kafka, classify them, produce one record per alert (a service)."""
    import json
    import logging

    from confluent_kafka import KafkaException

    from broker_plugin.serving.config import ConfigError, redact
    from broker_plugin.serving.consumer import AlertConsumer
    from broker_plugin.serving.service import (
        make_observer,
        make_pipeline,
        make_serializer,
        output_pipeline,
    )

    logging.basicConfig(
        level=options["log_level"].upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = ServingConfig.from_options(options)
    logging.getLogger("broker_plugin").info("config %s", json.dumps(config.describe()))
    pipeline = make_pipeline(
        config.model_dir,
        config.schema_registry_url,
        config.schema_dir,
        config.inference_threads,
        survey=None if config.survey == "auto" else config.survey,
        overlap_chunk=config.overlap_chunk,
    )
    pipeline = output_pipeline(pipeline, config.output_format)
    observer, server = make_observer(pipeline, config)
    try:
        try:
            consumer = AlertConsumer(config, pipeline, make_serializer(config), observer)
        except KafkaException as exc:  # a setting librdkafka refuses: one line, no secret
            raise ConfigError(
                "librdkafka refused the Kafka settings: "
                f"{redact(str(exc.args[0].str()), config.secret_values())} (check the -X "
                "settings, BROKER_PLUGIN_KAFKA_SETTINGS)"
            ) from None
        summary = consumer.run()
    finally:
        if server is not None:
            server.close()
    console.print(
        f"consumed {summary.consumed}, classified {summary.classified}, "
        f"dead-lettered {summary.dead_lettered} ({summary.stopped_by or 'end'})"
    )


@app.command()
def classify(
    inputs: list[Path] = typer.Argument(
        ..., help="Alert files (.avro containers, wire-format dumps) or light-curve directories."
    ),
    model: Path | None = typer_option(_OPTION["model"]),
    out: Path = typer.Option(..., "--out", help="Output file: .jsonl or .parquet."),
    rejects: Path | None = typer.Option(
        None, help="Where rejected inputs go (.jsonl); default: <out stem>.rejects.jsonl."
    ),
    schema_registry_url: str | None = _SCHEMA_REGISTRY_URL,
    schema_dir: Path | None = _SCHEMA_DIR,
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, help="Alerts per batch (as in `run`)."),
) -> None:
    """Replay without Kafka: classify alert files or light curves, same code path as `run`."""
    from broker_plugin.serving.replay import classify_files

    model = resolve_model_dir(model)
    console.print(f"model: {model}", highlight=False)
    summary = classify_files(
        inputs,
        model,
        out,
        rejects=rejects,
        registry_url=schema_registry_url,
        schema_dir=schema_dir,
        batch_size=batch_size,
        progress=True,
    )
    console.print(
        f"{summary.classified} classified -> {out}; {summary.rejected} rejected"
        + (f" -> {summary.rejects_path}" if summary.rejected else "")
        + (" (" + ", ".join(f"{reason} {n}" for reason, n in summary.reasons.items()) + ")"
           if summary.reasons else "")
    )
    if summary.classified == 0:
        # Nothing classified is a failed replay for scripts, not a success with 0 records.
        raise typer.Exit(NOTHING_CLASSIFIED_EXIT)


@app.command()
def capture(
    inputs: list[Path] = typer.Argument(
        None, help="Alert files (.avro containers, wire-format dumps) or directories of them."
    ),
    out: Path = typer.Option(..., "--out", help="Light-curve directory to write."),
    bootstrap_servers: str | None = typer_option(
        _OPTION["bootstrap_servers"], default=None, help="Kafka: bootstrap servers (with --topic)."
    ),
    topic: list[str] = typer.Option(
        [], "--topic", help="Kafka: topic(s) to read instead of files; repeat or comma-separate."
    ),
    group_id: str | None = typer.Option(
        None,
        help="Kafka: consumer group (resume from, then commit, its offsets); "
        "default: no group, every partition from the beginning.",
    ),
    max_messages: int | None = typer.Option(None, help="Kafka: stop after N messages."),
    idle_timeout_s: float | None = typer.Option(
        None, help="Kafka: stop after S seconds without a message (the topic is drained)."
    ),
    kafka_setting: list[str] = _KAFKA_SETTING,
    sasl_password: str | None = _SASL_PASSWORD,
    schema_registry_url: str | None = _SCHEMA_REGISTRY_URL,
    schema_dir: Path | None = _SCHEMA_DIR,
    min_points: int = typer.Option(2, help="Leave out curves with fewer points."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a directory in --out."),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, help="Alerts decoded per batch."),
) -> None:
    """Write the histories in alerts (files or a Kafka topic) as a light-curve directory.

    One curve per object and band: the union of the points of all its alerts, one row per
    epoch, in time order; manifest columns object_id, band, survey, n_alerts (no labels).
    For `training simulate --cadence-from DIR` or as training data in the target cadence.
    """
    from broker_plugin.serving.capture import CaptureError, capture_files, capture_kafka
    from broker_plugin.serving.config import parse_kafka_settings, split_topics
    from broker_plugin.serving.service import make_decoder

    topics = split_topics(topic)
    if topics and inputs:
        raise CaptureError(
            "give alert files or --topic, not both; capture them in two runs into two --out"
        )
    if not topics and not inputs:
        raise CaptureError(
            "nothing to read: give alert files/directories, or --bootstrap-servers and --topic"
        )
    if topics and not bootstrap_servers:
        raise CaptureError(
            "--topic needs --bootstrap-servers HOST:PORT (or "
            f"{_OPTION['bootstrap_servers'].envvar})"
        )
    decoder = make_decoder(schema_registry_url, schema_dir)
    settings = parse_kafka_settings(kafka_setting)
    if sasl_password:
        settings["sasl.password"] = sasl_password
    if topics and bootstrap_servers:
        summary = capture_kafka(
            bootstrap_servers,
            topics,
            decoder,
            out,
            group_id=group_id,
            max_messages=max_messages,
            idle_timeout_s=idle_timeout_s,
            kafka_settings=settings,
            min_points=min_points,
            batch_size=batch_size,
            overwrite=overwrite,
            progress=True,
        )
    else:
        summary = capture_files(
            inputs,
            decoder,
            out,
            min_points=min_points,
            batch_size=batch_size,
            overwrite=overwrite,
            progress=True,
        )
    _print_capture(summary)


def _print_capture(summary: CaptureSummary) -> None:
    table = Table(title=f"{summary.out}: {summary.curves} curves of {summary.objects} objects")
    for column in ("band", "curves", "points", "median points", "median Δt (d)", "same night"):
        table.add_column(column, justify="right")
    for band, s in summary.bands.items():
        table.add_row(
            band, str(s.curves), str(s.points), f"{s.median_points:.0f}",
            f"{s.median_dt:.3g}", f"{s.same_night:.0%}",
        )
    console.print(table)
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.skipped.items()))
    console.print(
        f"read {summary.messages} messages from {summary.source} ({summary.stopped_by}): "
        f"{summary.alerts} alerts merged, {summary.points} points written; "
        f"skipped: {skipped or 'none'}; {summary.short_curves} curves under --min-points "
        f"left out -> {summary.out}",
        highlight=False,
    )
    for note in summary.notes:
        console.print(f"[yellow]warning:[/] {note}", highlight=False)


@app.command()
def produce(
    bootstrap_servers: str = typer_option(_OPTION["bootstrap_servers"]),
    from_dir: Path = typer.Option(..., "--from", help="Light-curve directory to turn into alerts."),
    fmt: str = typer.Option("lsst", "--format", help="lsst, ztf or compact."),
    topic: str = typer.Option(..., help="Topic to publish to."),
    schema_version: str = typer.Option("11.1", help="LSST schema version (lsst format)."),
    alerts_per_object: int = typer.Option(
        1, help="K alerts per object at its last K epochs, each with the history before it."
    ),
    limit: int | None = typer.Option(None, help="Use only the first N objects."),
    schema_dir: Path | None = typer_option(
        _OPTION["schema_dir"], help="LSST schemas (lsst-alert-packet layout)."
    ),
    kafka_setting: list[str] = typer.Option([], "--kafka-setting", "-X"),
    create_topic: bool = typer.Option(
        False, "--create-topic", help="Create the topic first (an existing one is fine)."
    ),
    partitions: int | None = typer.Option(
        None, help="With --create-topic: partitions of the new topic (default 1)."
    ),
    replication_factor: int | None = typer.Option(
        None,
        help="With --create-topic: replication factor (default: the broker's "
        "default.replication.factor).",
    ),
) -> None:
    """Publish a light-curve directory as alert packets (wire format), for demos and load."""
    from broker_plugin.serving.config import parse_kafka_settings
    from broker_plugin.serving.produce import ProduceError, ensure_topic, produce_alerts

    settings = parse_kafka_settings(kafka_setting)
    if create_topic:
        console.print(
            ensure_topic(
                bootstrap_servers,
                topic,
                partitions=1 if partitions is None else partitions,
                replication_factor=-1 if replication_factor is None else replication_factor,
                kafka_settings=settings,
            ),
            highlight=False,
            soft_wrap=True,
        )
    elif partitions is not None or replication_factor is not None:
        raise ProduceError("--partitions and --replication-factor need --create-topic")
    counts = produce_alerts(
        bootstrap_servers,
        from_dir,
        fmt,
        topic,
        schema_version=schema_version,
        alerts_per_object=alerts_per_object,
        limit=limit,
        schema_dir=schema_dir,
        kafka_settings=settings,
    )
    console.print(
        f"produced {counts.alerts} {fmt} alerts for {counts.objects} objects to {topic} "
        f"({counts.bytes / 1e6:.1f} MB)"
    )


def main() -> None:
    run_app(app, "broker-plugin")
