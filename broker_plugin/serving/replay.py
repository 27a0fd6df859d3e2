"""`broker-plugin classify`: the service's pipeline over files, without Kafka.

Inputs, each turned into the payload bytes a Kafka message would carry, then fed through the
very `AlertPipeline.process` that `run` uses (same decoder, featuriser, model, combination
and record builder), in batches of `batch_size`:

* `.avro` — an Avro object container (ZTF style; schema inside); every record is an alert;
* any other file — one message as it sat on the wire (Confluent wire format, or schemaless
  Avro when the schema source is a single fixed schema), e.g. `kcat -e -D '' > msg.bin`;
* a directory with `manifest.csv` — a light-curve directory: each object becomes one compact
  alert (our `schemas/compact_alert.avsc`) carrying its whole light curve;
* any other directory — every file in it, recursively, as above.

Output by the extension of `--out`: `.jsonl` (one record per line, the Kafka record's fields)
or `.parquet` (the same records; nested fields as structs). Rejected inputs go to a separate
JSON-lines file with their path, reason and message (the dead-letter topic's headers).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from broker_plugin.errors import UserError
from broker_plugin.serving.config import DEFAULT_BATCH_SIZE
from broker_plugin.serving.pipeline import AlertPipeline

OUT_FORMATS = (".jsonl", ".parquet")


class ReplayInputError(UserError, ValueError):
    """An input path or output file that replay cannot use."""


@dataclass
class ReplaySummary:
    classified: int
    rejected: int
    out: Path
    rejects_path: Path | None
    reasons: dict[str, int] = field(default_factory=dict)  # rejected inputs per reason


def iter_payloads(paths: Sequence[Path]) -> Iterator[tuple[str, bytes]]:
    """(origin, payload bytes) for every input, in the order given (see module docstring)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            if (path / "manifest.csv").is_file():
                yield from _lightcurve_payloads(path)
            else:
                for child in sorted(p for p in path.rglob("*") if p.is_file()):
                    yield str(child), child.read_bytes()
        elif path.is_file():
            yield str(path), path.read_bytes()
        else:
            raise ReplayInputError(
                f"{path}: no such file or directory; give alert files (.avro, wire-format "
                "dumps) or a light-curve directory"
            )


def iter_payload_batches(
    paths: Sequence[Path], batch_size: int
) -> Iterator[tuple[list[str], list[bytes]]]:
    """`iter_payloads` in batches: (origins, payloads) of at most `batch_size` inputs each."""
    origins: list[str] = []
    payloads: list[bytes] = []
    for origin, payload in iter_payloads(paths):
        origins.append(origin)
        payloads.append(payload)
        if len(payloads) >= batch_size:
            yield origins, payloads
            origins, payloads = [], []
    if payloads:
        yield origins, payloads


def count_payloads(paths: Sequence[Path]) -> int | None:
    """How many payloads `iter_payloads` will give (None if a light-curve directory is in)."""
    total = 0
    for path in paths:
        if path.is_dir():
            if (path / "manifest.csv").is_file():
                return None
            total += sum(1 for p in path.rglob("*") if p.is_file())
        else:
            total += 1
    return total


def _lightcurve_payloads(directory: Path) -> Iterator[tuple[str, bytes]]:
    from broker_plugin.lightcurve_dir import read_lightcurve_dir
    from broker_plugin.serving.produce import curves_by_object, encode_compact_container

    curves = read_lightcurve_dir(directory)
    for object_id, bands in curves_by_object(curves).items():
        yield f"{directory}#{object_id}", encode_compact_container(object_id, bands)


def classify_files(
    inputs: Sequence[Path],
    model_dir: Path,
    out: Path,
    rejects: Path | None = None,
    registry_url: str | None = None,
    schema_dir: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
    pipeline: AlertPipeline | None = None,
) -> ReplaySummary:
    """Classify every input; write records to `out` and rejects beside it."""
    out = Path(out)
    if out.suffix not in OUT_FORMATS:
        raise ReplayInputError(
            f"--out {out}: unknown extension {out.suffix!r}; use one of {', '.join(OUT_FORMATS)}"
        )
    if pipeline is None:
        from broker_plugin.serving.service import make_pipeline

        pipeline = make_pipeline(model_dir, registry_url, schema_dir)
    records: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    with ProgressCounter(progress, "classifying") as advance:
        for origins, payloads in iter_payload_batches(inputs, batch_size):
            outcome = pipeline.process(payloads)
            records.extend(c.record for c in outcome.classified)
            rejected.extend(
                {
                    "origin": origins[r.index],
                    "reason": r.reason,
                    "message": r.message,
                    "schema_id": r.schema_id,
                }
                for r in outcome.rejected
            )
            advance(len(payloads))

    out.parent.mkdir(parents=True, exist_ok=True)
    write_records(records, out)
    rejects_path = None
    if rejected or rejects is not None:
        rejects_path = Path(rejects) if rejects else out.with_suffix(".rejects.jsonl")
        write_records(rejected, rejects_path)
    reasons = Counter(str(r["reason"]) for r in rejected)
    return ReplaySummary(len(records), len(rejected), out, rejects_path,
                         dict(reasons.most_common()))


def write_records(records: list[dict[str, Any]], path: Path) -> None:
    """JSON lines or Parquet by the extension of `path`."""
    if path.suffix == ".parquet":
        import polars as pl

        frame = pl.DataFrame(_parquet_rows(records)) if records else pl.DataFrame()
        frame.write_parquet(path)
        return
    with open(path, "w") as handle:
        for record in records:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def _parquet_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Maps (whose keys vary) become lists of {key, value}, Parquet's map layout."""
    rows = []
    for r in records:
        row = dict(r)
        for name in ("probabilities", "points_per_band"):
            if isinstance(row.get(name), dict):
                row[name] = [{"key": k, "value": v} for k, v in row[name].items()]
        if "bands" in row:
            row["bands"] = [
                {
                    **b,
                    "probabilities": [
                        {"key": k, "value": v} for k, v in b["probabilities"].items()
                    ],
                }
                for b in row["bands"]
            ]
        rows.append(row)
    return rows


class ProgressCounter:
    """A transient rich progress bar (or nothing) around a read loop (`classify`, `capture`).

    `with ProgressCounter(enabled, what, total) as advance:` ... `advance(n)` per batch.
    """

    def __init__(self, enabled: bool, what: str, total: int | None = None) -> None:
        self.enabled, self.what, self.total = enabled, what, total

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self._progress = Progress(transient=True)
        self._progress.__enter__()
        task = self._progress.add_task(self.what, total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.enabled:
            self._progress.__exit__(kind, error, trace)
