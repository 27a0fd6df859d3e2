"""`broker-plugin capture`: alert histories → an unlabelled light-curve directory.

What for: an operator records the cadence of a live stream (or of alert files) and hands the
directory to training (`training simulate --cadence-from DIR`, or as data), so that a model
sees the target survey's sampling before it meets it.

Input: a Kafka topic, or the files `classify` accepts (Avro containers, Confluent
wire-format dumps, directories of them; see `replay.iter_payloads`). Every payload goes
through the decoder `run` and `classify` use (`service.make_decoder`), so the points are
exactly those the classifier would see: LSST `diaSource` + `prvDiaSources` +
`prvDiaForcedSources`, ZTF `candidate` + `prv_candidates`, cleaned by the decoder's rules.

Output: one curve per (object, band), the union of the points of every alert of that object
seen in the input, de-duplicated on the epoch (one row per (time, band); where alerts
disagree about an epoch's values, the row of the most recent alert is kept: larger alert
MJD, then the one read last), in time order. Curves with fewer than `min_points` points are
dropped. Manifest columns: `path`, `object_id`, `band`, `survey` (`LSST`, `ZTF`), `n_alerts`
(alerts that contributed points to that curve); no label: the directory is unlabelled.

Not merged: undecodable payloads (counted by the decoder's reason code), the same alert read
twice (`duplicate_alert`: same survey, object and alert id, e.g. a Kafka redelivery) and
LSST alerts with diaObjectId 0 (`solar_system`: sources attributed to a solar-system object
carry no diaObject, and merging every such alert under object "0" would make one curve of
many unrelated moving objects; the decoder itself reports them as object "0").

Memory: points are held as flat numpy columns (key, time, mag, err, alert MJD, read order:
48 bytes a point) and compacted (sorted, duplicates dropped) whenever the points added since
the last compaction exceed both the points kept and `COMPACT_POINTS`. Alerts repeat their
history, so the raw input is alerts × history long, but what is held stays below about twice
the distinct (object, band, epoch) rows plus `COMPACT_POINTS` (≈ 50 MB), plus about 200 bytes
per curve and per alert id (duplicate detection). A night of full LSST stream (10⁶–10⁷
objects × tens to hundreds of epochs) would need tens of GB: capture a topic or a filtered
stream, not the firehose, or run it per field or per night.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from broker_plugin.decoding.batch import DecodedBatch
from broker_plugin.errors import UserError
from broker_plugin.lightcurve import LightCurve
from broker_plugin.rejections import Reason
from broker_plugin.serving.config import DEFAULT_BATCH_SIZE
from broker_plugin.serving.stop_signals import stop_on_signals

#: Skip reasons of our own (the decoder's are `broker_plugin.rejections.Reason`).
SOLAR_SYSTEM = "solar_system"
DUPLICATE_ALERT = "duplicate_alert"
#: Points added between compactions, at least (see module docstring).
COMPACT_POINTS = 1_000_000
#: Manifest `survey` values for the decoder's survey names.
SURVEY_NAMES = {"lsst": "LSST", "ztf": "ZTF"}
SUBDIR = "lc"
#: Consecutive points closer than this (days) are counted as same-night pairs.
SAME_NIGHT_DAYS = 0.5


class CaptureError(UserError, ValueError):
    """A capture that cannot run as asked, or that captured nothing; names the fix."""


@dataclass
class BandStats:
    """Cadence of the written curves of one band."""

    curves: int
    points: int
    median_points: float
    median_dt: float  # days, consecutive points of a curve, all curves pooled
    same_night: float  # share of those Δt below SAME_NIGHT_DAYS


@dataclass
class CaptureSummary:
    """What one capture read, skipped and wrote (printed by the CLI, asserted in tests)."""

    messages: int = 0  # payloads read: files, container files, Kafka messages
    alerts: int = 0  # alerts merged (a container may hold several)
    skipped: Counter[str] = field(default_factory=Counter)  # alerts/payloads by reason
    objects: int = 0
    curves: int = 0
    points: int = 0
    short_curves: int = 0  # dropped: fewer than min_points points
    bands: dict[str, BandStats] = field(default_factory=dict)
    out: Path | None = None
    source: str = ""  # what was read, for messages
    stopped_by: str = ""
    notes: list[str] = field(default_factory=list)  # warnings for the operator


class HistoryMerger:
    """Accumulates decoded batches; `curves()` gives the merged curves (see module docstring)."""

    def __init__(self, compact_points: int = COMPACT_POINTS) -> None:
        self.compact_points = compact_points
        self._key_of: dict[tuple[str, str, str], int] = {}
        self._keys: list[tuple[str, str, str]] = []  # (survey, object id, band)
        self._n_alerts: list[int] = []
        self._seen: set[tuple[str, str, str]] = set()  # (survey, object id, alert id)
        self._chunks: list[tuple[np.ndarray, ...]] = []
        self._held = 0
        self._pending = 0
        self._order = 0
        self.alerts = 0
        self.skipped: Counter[str] = Counter()

    def add(self, batch: DecodedBatch) -> None:
        """Merge one decoded batch (failures are counted by reason)."""
        for failure in batch.failures:
            self.skipped[failure.reason] += 1
        n = len(batch)
        if n == 0:
            return
        surveys = [str(s) for s in batch.survey.tolist()]
        objects = [str(o) for o in batch.object_id.tolist()]
        alert_ids = [str(a) for a in batch.alert_id.tolist()]
        use = np.ones(n, dtype=bool)
        for a in range(n):
            if surveys[a] == "lsst" and objects[a] == "0":
                self.skipped[SOLAR_SYSTEM] += 1
                use[a] = False
                continue
            seen = (surveys[a], objects[a], alert_ids[a])
            if seen in self._seen:
                self.skipped[DUPLICATE_ALERT] += 1
                use[a] = False
                continue
            self._seen.add(seen)
        self.alerts += int(use.sum())

        seg_alert = np.asarray(batch.segment_alert, dtype=np.int64)
        seg_band = [str(b) for b in np.asarray(batch.segment_band).tolist()]
        seg_key = np.full(seg_alert.size, -1, dtype=np.int64)
        for s in np.flatnonzero(use[seg_alert]).tolist():
            a = int(seg_alert[s])
            key = (surveys[a], objects[a], seg_band[s])
            index = self._key_of.get(key)
            if index is None:
                index = self._key_of[key] = len(self._keys)
                self._keys.append(key)
                self._n_alerts.append(0)
            self._n_alerts[index] += 1  # one segment per (alert, band)
            seg_key[s] = index
        sizes = np.asarray(batch.segment_size, dtype=np.int64)
        point_key = np.repeat(seg_key, sizes)
        point_alert = np.repeat(seg_alert, sizes)
        time_ = np.asarray(batch.time, dtype=np.float64)
        keep = (point_key >= 0) & np.isfinite(time_)
        point_alert = point_alert[keep]
        self._chunks.append((
            point_key[keep],
            time_[keep],
            np.asarray(batch.mag, dtype=np.float64)[keep],
            np.asarray(batch.err, dtype=np.float64)[keep],
            np.asarray(batch.alert_mjd, dtype=np.float64)[point_alert],
            self._order + point_alert,
        ))
        self._order += n
        self._pending += int(keep.sum())
        if self._pending > max(self._held, self.compact_points):
            self._compact()

    def _compact(self) -> tuple[np.ndarray, ...]:
        """Sort all held points by (key, time), keep the most recent alert's row per epoch."""
        if not self._chunks:
            empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
            return empty_i, empty_f, empty_f, empty_f, empty_f, empty_i
        key, t, mag, err, mjd, order = (np.concatenate(c) for c in zip(*self._chunks, strict=True))
        # lexsort: last key is primary → by key, time, then newest alert first (stable).
        idx = np.lexsort((-order, -mjd, t, key))
        key, t = key[idx], t[idx]
        first = np.ones(idx.size, dtype=bool)
        first[1:] = (key[1:] != key[:-1]) | (t[1:] != t[:-1])
        idx = idx[first]
        merged = (key[first], t[first], mag[idx], err[idx], mjd[idx], order[idx])
        self._chunks = [merged]
        self._held = int(first.sum())
        self._pending = 0
        return merged

    def curves(self, min_points: int = 2) -> tuple[list[LightCurve], int]:
        """(merged curves with at least `min_points` points ordered by object and band,
        number of shorter curves left out)."""
        key, t, mag, err, _, _ = self._compact()
        bounds = np.searchsorted(key, np.arange(len(self._keys) + 1)).tolist()
        out: list[LightCurve] = []
        short = 0
        keys = self._keys  # (survey, object id, band): written by object, band, survey
        by_object = sorted(range(len(keys)), key=lambda i: (keys[i][1], keys[i][2], keys[i][0]))
        for k in by_object:
            lo, hi = bounds[k], bounds[k + 1]
            if hi - lo < min_points:
                short += 1
                continue
            survey, object_id, band = self._keys[k]
            out.append(
                LightCurve(
                    object_id=object_id,
                    time=t[lo:hi],
                    mag=mag[lo:hi],
                    err=err[lo:hi],
                    band=band,
                    survey=SURVEY_NAMES.get(survey, survey),
                    meta={"n_alerts": self._n_alerts[k]},
                )
            )
        return out, short


# --------------------------------------------------------------------------- sources


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse to mix a capture with an earlier light-curve directory unless told to replace it.

    Checked before reading, so that a long capture does not end in this mistake.
    """
    from broker_plugin.lightcurve_dir import check_output_dir

    check_output_dir(
        out, SUBDIR, overwrite, named=f"--out {out}", option="--out", error=CaptureError
    )


def capture_files(
    inputs: Sequence[Path],
    decoder: Any,
    out: Path,
    *,
    min_points: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    overwrite: bool = False,
    progress: bool = False,
) -> CaptureSummary:
    """Capture alert files (what `classify` reads) into the light-curve directory `out`."""
    from broker_plugin.serving.replay import (
        ProgressCounter,
        count_payloads,
        iter_payload_batches,
    )

    inputs = [Path(p) for p in inputs]
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise CaptureError(
            f"{missing[0]}: no such file or directory; give alert files (.avro containers, "
            "wire-format dumps) or directories of them"
        )
    _check_options(min_points, batch_size)
    out = Path(out)
    check_output(out, overwrite)
    merger = HistoryMerger()
    summary = CaptureSummary(source=", ".join(map(str, inputs)), stopped_by="end of input")
    with ProgressCounter(progress, "capturing", count_payloads(inputs)) as advance:
        for _, payloads in iter_payload_batches(inputs, batch_size):
            merger.add(decoder.decode_batch(payloads))
            summary.messages += len(payloads)
            advance(len(payloads))
    return _finish(merger, summary, out, min_points, overwrite)


def capture_kafka(
    bootstrap_servers: str,
    topics: Sequence[str],
    decoder: Any,
    out: Path,
    *,
    group_id: str | None = None,
    max_messages: int | None = None,
    idle_timeout_s: float | None = None,
    kafka_settings: dict[str, str] | None = None,
    min_points: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    overwrite: bool = False,
    progress: bool = False,
    consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
) -> CaptureSummary:
    """Capture a Kafka topic into the light-curve directory `out`.

    Without `group_id`: every partition is read from its beginning by direct assignment (no
    group joined, nothing committed). With one: the group's committed offsets are the start
    (a new group starts at the beginning) and the offsets read are committed once the
    directory is written. Stops after `max_messages`, after `idle_timeout_s` seconds without
    a message (the topic is drained), or on SIGINT/SIGTERM; the directory is written then.
    """
    from broker_plugin.serving.replay import ProgressCounter

    _check_options(min_points, batch_size)
    if not topics:
        raise CaptureError("no topic: pass --topic T")
    if max_messages is not None and max_messages < 1:
        raise CaptureError(f"--max-messages must be >= 1, got {max_messages}")
    if idle_timeout_s is not None and not idle_timeout_s > 0:
        raise CaptureError(f"--idle-timeout-s must be > 0 seconds, got {idle_timeout_s}")
    out = Path(out)
    check_output(out, overwrite)
    reader = _TopicCapture(
        bootstrap_servers, list(topics), group_id, kafka_settings or {}, consumer_factory
    )
    merger = HistoryMerger()
    summary = CaptureSummary(source=f"topic {', '.join(topics)} at {bootstrap_servers}")
    try:
        with ProgressCounter(progress, "capturing") as advance:
            for values in reader.batches(batch_size, max_messages, idle_timeout_s):
                merger.add(decoder.decode_batch(values))
                summary.messages += len(values)
                advance(len(values))
        summary.stopped_by = reader.stopped_by
        _finish(merger, summary, out, min_points, overwrite)
        note = reader.commit()
        if note:
            summary.notes.append(note)
    finally:
        reader.close()
    return summary


def _check_options(min_points: int, batch_size: int) -> None:
    if min_points < 1:
        raise CaptureError(f"--min-points must be >= 1, got {min_points}")
    if batch_size < 1:
        raise CaptureError(f"--batch-size must be >= 1, got {batch_size}")


def _finish(
    merger: HistoryMerger, summary: CaptureSummary, out: Path, min_points: int, overwrite: bool
) -> CaptureSummary:
    """Write the directory (or raise CaptureError when there is nothing to write)."""
    import shutil

    from broker_plugin.lightcurve_dir import MANIFEST, LightCurveDirWriter

    summary.alerts = merger.alerts
    summary.skipped = Counter(merger.skipped)
    curves, summary.short_curves = merger.curves(min_points)
    if not curves:
        raise CaptureError(_nothing_message(summary, min_points))
    check_output(out, overwrite)  # again: something may have appeared while we read
    if overwrite:
        shutil.rmtree(out / SUBDIR, ignore_errors=True)
        (out / MANIFEST).unlink(missing_ok=True)
    with LightCurveDirWriter(out, SUBDIR, sort_manifest=True) as writer:
        writer.write(curves)
    summary.out = out
    summary.objects = len({(c.survey, c.object_id) for c in curves})
    summary.curves = len(curves)
    summary.points = sum(len(c) for c in curves)
    summary.bands = band_stats(curves)
    return summary


def _nothing_message(summary: CaptureSummary, min_points: int) -> str:
    skipped = ", ".join(f"{r} {n}" for r, n in summary.skipped.most_common()) or "none"
    if summary.messages == 0:
        if summary.source.startswith("topic"):
            return (
                f"nothing captured: no message read from {summary.source} before stopping "
                f"({summary.stopped_by}); the topic is empty or, with --group-id, the group's "
                "offsets are at its end; raise --idle-timeout-s if alerts arrive slowly"
            )
        return f"nothing captured: {summary.source} holds no files"
    if summary.short_curves:
        return (
            f"nothing captured: {summary.alerts} alert(s) merged into {summary.short_curves} "
            f"curve(s), all shorter than --min-points {min_points} (skipped: {skipped}); "
            "lower --min-points"
        )
    hints = [_HINTS[r] for r in summary.skipped if r in _HINTS]
    return (
        f"nothing captured from {summary.messages} message(s): no alert could be used "
        f"(skipped: {skipped}); " + ("; ".join(dict.fromkeys(hints)) or "see README, Decoding")
    )


_NOT_ALERTS = (
    "those payloads are not alert packets (Confluent wire format or Avro containers); check "
    "the files or the topic"
)
#: The fix to suggest for each skip reason when nothing at all could be captured.
_HINTS = {
    Reason.UNKNOWN_SCHEMA: "give the writer schemas with --schema-dir (for LSST: "
    "lsst-alert-packet's schema/ folder) or --schema-registry-url",
    Reason.UNSUPPORTED_SCHEMA: "the schema is not a supported alert schema (LSST 8.0 or "
    "later, ZTF, compact; see README, Decoding)",
    Reason.AVRO_ERROR: "the bodies do not match their schema: check --schema-dir or "
    "--schema-registry-url, or the payloads are corrupt",
    Reason.BAD_MAGIC: _NOT_ALERTS,
    Reason.TRUNCATED: _NOT_ALERTS,
    Reason.EMPTY_PAYLOAD: _NOT_ALERTS,
    SOLAR_SYSTEM: "solar-system alerts (diaObjectId 0) have no object to merge on",
    Reason.NO_POINTS: "the alerts carry no usable photometry",
}


def band_stats(curves: Sequence[LightCurve]) -> dict[str, BandStats]:
    """Per band: curves, points, median points per curve, median Δt, same-night share."""
    stats: dict[str, BandStats] = {}
    for band in sorted({str(c.band) for c in curves}):
        mine = [c for c in curves if str(c.band) == band]
        sizes = np.array([len(c) for c in mine])
        gaps = np.concatenate([np.diff(c.time) for c in mine])
        stats[band] = BandStats(
            curves=len(mine),
            points=int(sizes.sum()),
            median_points=float(np.median(sizes)),
            median_dt=float(np.median(gaps)) if gaps.size else float("nan"),
            same_night=float(np.mean(gaps < SAME_NIGHT_DAYS)) if gaps.size else float("nan"),
        )
    return stats


class _TopicCapture:
    """Reads messages from Kafka for `capture_kafka` (payload bytes in batches)."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        group_id: str | None,
        kafka_settings: dict[str, str],
        consumer_factory: Callable[[dict[str, Any]], Any] | None,
    ) -> None:
        from confluent_kafka import Consumer

        from broker_plugin.serving.config import _PRODUCER_ONLY, _only

        self.bootstrap_servers = bootstrap_servers
        self.topics = topics
        self.group_id = group_id
        self.stopped_by = ""
        self._stop = threading.Event()
        self._fatal: Any = None
        self._next: dict[tuple[str, int], int] = {}
        self._last_activity = time.monotonic()
        settings: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            # librdkafka wants a group id even for direct assignment; this one is never joined.
            "group.id": group_id or f"broker-plugin-capture-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **_only(kafka_settings, exclude=_PRODUCER_ONLY),
            "error_cb": self._on_error,
        }
        self.consumer = (consumer_factory or Consumer)(settings)
        self._closed = False

    def _on_error(self, err: Any) -> None:
        from broker_plugin.serving.kafka_errors import is_transient

        if not is_transient(err):
            self._fatal = err

    def _start(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

        try:
            metadata = self.consumer.list_topics(timeout=15)
        except KafkaException as exc:
            raise CaptureError(
                f"cannot reach Kafka at {self.bootstrap_servers} ({exc.args[0].str()}); check "
                "--bootstrap-servers and the -X security settings"
            ) from exc
        missing = [
            t for t in self.topics
            if t not in metadata.topics or metadata.topics[t].error is not None
        ]
        if missing:
            known = sorted(t for t in metadata.topics if not t.startswith("__"))
            raise CaptureError(
                f"topic {missing[0]!r} not found at {self.bootstrap_servers}; existing topics: "
                f"{', '.join(known[:20]) or 'none'}"
            )
        if self.group_id:
            self.consumer.subscribe(self.topics, on_assign=self._on_assign)
        else:
            self.consumer.assign([
                TopicPartition(t, p, OFFSET_BEGINNING)
                for t in self.topics
                for p in sorted(metadata.topics[t].partitions)
            ])

    def _on_assign(self, _consumer: Any, _partitions: Any) -> None:
        self._last_activity = time.monotonic()  # joining a group is not idleness

    def batches(
        self, batch_size: int, max_messages: int | None, idle_timeout_s: float | None
    ) -> Iterator[list[bytes]]:
        """Payload batches until a stop condition (see `capture_kafka`)."""
        from broker_plugin.serving.kafka_errors import is_transient

        self._start()
        read = 0
        self._last_activity = time.monotonic()
        with stop_on_signals(self._on_stop):
            while not self._stop.is_set():
                want = batch_size if max_messages is None else min(batch_size, max_messages - read)
                messages = self.consumer.consume(num_messages=want, timeout=0.2)
                self._raise_fatal()
                values: list[bytes] = []
                for message in messages:
                    err = message.error()
                    if err is not None:
                        if is_transient(err):
                            continue
                        self._fatal = err
                        self._raise_fatal()
                    values.append(message.value() or b"")
                    key = (str(message.topic()), int(message.partition() or 0))
                    offset = int(message.offset() or 0)
                    self._next[key] = max(self._next.get(key, 0), offset + 1)
                if values:
                    read += len(values)
                    self._last_activity = time.monotonic()
                    yield values
                if max_messages is not None and read >= max_messages:
                    self.stopped_by = "max-messages"
                    break
                if (
                    idle_timeout_s is not None
                    and time.monotonic() - self._last_activity >= idle_timeout_s
                ):
                    self.stopped_by = f"idle {idle_timeout_s:g} s"
                    break

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            err = self._fatal
            raise CaptureError(
                f"Kafka at {self.bootstrap_servers}: {err.name()} ({err.str()}); check "
                "--bootstrap-servers, the topic and the -X settings"
            )

    def _on_stop(self, signal_name: str) -> None:
        self.stopped_by = signal_name
        self._stop.set()

    def commit(self) -> str:
        """With a group: commit the offsets after the last messages read (once the directory
        is written); returns a warning for the operator if that failed, else ''."""
        if not self.group_id or not self._next:
            return ""
        from confluent_kafka import KafkaException, TopicPartition

        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(self._next.items())]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            return (
                f"committing offsets for group {self.group_id!r} failed "
                f"({exc.args[0].str()}); the next capture with this group re-reads those "
                "messages"
            )
        return ""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.consumer.close()
