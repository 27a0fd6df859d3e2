"""Helpers for scripts/demo: create topics, wait for outputs, show metrics and the results.

Kept out of the package: this is demo plumbing, not product. Uses the real broker.
Run: python scripts/demo_report.py {create-topics,wait,metrics,report} ...
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import typer
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from broker_plugin.alerts.lsst_encoder import lsst_object_id
from broker_plugin.lightcurve_dir import read_manifest

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
console = Console()
SHOWN_METRICS = (
    "alerts_consumed_total", "alerts_classified_total", "dead_letters_total",
    "predictions_total", "stage_duration_seconds_sum", "stage_duration_seconds_count",
    "consumer_lag_messages", "drift_flag", "drift_window_curves", "model_info",
)


@app.command("describe-model")
def describe_model(model_dir: Path) -> None:
    """Say which model the demo serves: name, version, classes and what it was trained on."""
    from broker_plugin.model_card import load_model_dir

    _, card = load_model_dir(model_dir)
    data = card.training_data
    sources = data.get("source", "?")
    sources = ", ".join(sources) if isinstance(sources, list) else sources
    console.print(
        f"model: {card.name} {card.version} from {model_dir} (classes {', '.join(card.classes)}; "
        f"trained on {sources}; surveys {', '.join(data.get('surveys', [])) or '?'})",
        highlight=False)


@app.command("create-topics")
def create_topics(bootstrap: str, topics: list[str], partitions: int = 3) -> None:
    """Create topics (idempotent) with a few partitions, as a broker operator would."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    new = [NewTopic(t, num_partitions=partitions, replication_factor=1)
           for t in topics if t not in existing]
    for topic, future in admin.create_topics(new).items() if new else ():
        future.result()
        console.print(f"created topic {topic} ({partitions} partitions)")


def read_all(bootstrap: str, topic: str) -> list[dict]:
    """Every JSON record on a topic, read by assignment (no consumer group)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-report",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records, done = [], {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + 30
        while len(done) < len(ends) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records.append(json.loads(message.value()))
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
        return records
    finally:
        consumer.close()


def count(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-report"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in partitions)
    finally:
        consumer.close()


@app.command()
def wait(bootstrap: str, topic: str, expected: int, timeout: float = 300.0) -> None:
    """Block until `expected` records are on `topic` (exit 1 on timeout)."""
    deadline = time.monotonic() + timeout
    while (n := count(bootstrap, topic)) < expected:
        if time.monotonic() > deadline:
            console.print(f"[red]timed out: {n} of {expected} records on {topic}[/]")
            raise typer.Exit(1)
        time.sleep(1)
    console.print(f"{n} records on {topic}")


@app.command()
def metrics(url: str) -> None:
    """Print the plugin's main Prometheus series (the full list is at the URL)."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    lines = [line for line in text.splitlines()
             if not line.startswith("#") and any(f"_{name}" in line for name in SHOWN_METRICS)
             and not (line.endswith(" 0.0") and "_total{" in line)]  # zero counters: noise
    console.print(f"[bold]{url}[/] ({len(text.splitlines())} lines; a selection):")
    for line in lines:
        console.print("  " + line, highlight=False, soft_wrap=True)


@app.command()
def report(bootstrap: str, topic: str, truth: Path, show: int = 15) -> None:
    """Classifications from `topic` against the true classes in the manifest `truth`."""
    manifest = read_manifest(truth)
    labels = dict(zip(manifest["object_id"], manifest["label"], strict=True))
    by_dia = {str(lsst_object_id(name)): (name, label) for name, label in labels.items()}
    records = read_all(bootstrap, topic)
    table = Table(title=f"classifications on {topic} (first {show} of {len(records)})")
    for column in ("object", "true", "predicted", "p(predicted)", "points per band"):
        table.add_column(column)
    pairs = []
    for i, record in enumerate(records):
        name, label = by_dia.get(str(record["object_id"]), (record["object_id"], "?"))
        predicted = record["predicted_class"]
        pairs.append((label, predicted))
        if i < show:
            bands = " ".join(f"{b}:{n}" for b, n in sorted(record["points_per_band"].items()))
            table.add_row(name, label, predicted,
                          f"{record['probabilities'][predicted]:.2f}", bands)
    console.print(table)
    classes = sorted({p for pair in pairs for p in pair})
    matrix = Counter(pairs)
    confusion = Table(title="true (rows) vs predicted (columns)")
    confusion.add_column("")
    for c in classes:
        confusion.add_column(c)
    for t in classes:
        confusion.add_row(t, *(str(matrix[(t, p)]) for p in classes))
    console.print(confusion)
    correct = sum(matrix[(c, c)] for c in classes)
    console.print(f"accuracy {correct}/{len(pairs)} = {correct / max(len(pairs), 1):.2f} "
                  f"(chance {1 / max(len(set(labels.values())), 1):.2f})")


if __name__ == "__main__":
    sys.exit(app())
