"""`broker-plugin run`: the Kafka service loop (consume → classify → produce → commit).

Lifecycle of one batch, modelled on AMPEL's LSST consumer:

1. collect up to `batch_size` messages, waiting at most `batch_wait_ms` after the first one,
   in poll slices of `poll_slice_ms` so a signal is heard within a slice;
2. classify them with the transport-free `AlertPipeline` (the code `classify` uses too);
3. produce one output record per alert (key = object id) and one dead letter per reject;
4. at-least-once (default): flush, require a positive delivery report for every record of
   the batch, then commit the next offsets synchronously. A failed delivery stops the loop
   *without* committing, so the batch is redelivered after restart.
   Exactly-once (`--exactly-once`): the batch's records and its offsets go in one Kafka
   transaction (`send_offsets_to_transaction`); an abortable failure aborts and rewinds.

Auto-commit and auto offset-store are off; assignment is cooperative-sticky (optionally with
static membership); on revoke or loss, buffered messages of those partitions are dropped
(their new owner re-reads them). SIGTERM/SIGINT finish the batch in hand, flush, commit and
close (leaving the group). Known transient librdkafka errors are named and ridden out; fatal
ones raise (see kafka_errors).

Start-up checks that every input topic exists (one metadata request listing all topics:
naming the topic could make a broker with auto-creation on create it); a missing one stops
`run` with one line naming it and the fix. An unreachable cluster is ridden out instead:
one warning per interval names the bootstrap address, /readyz answers 503 from
`_ALL_BROKERS_DOWN` until a metadata request answers again (probed every few seconds), and
the topic check runs then. librdkafka's own log lines reach Python logging rate-limited
(see kafka_logging).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from broker_plugin.decoding.schema_sources import SchemaRegistryUnavailableError
from broker_plugin.errors import ServiceStopError
from broker_plugin.serving.allocator import keep_freed_memory
from broker_plugin.serving.config import ServingConfig
from broker_plugin.serving.dlq import dead_letter_headers, dead_letter_value
from broker_plugin.serving.kafka_errors import (
    LOST_OWNERSHIP_CODES,
    FatalKafkaError,
    MissingTopicError,
    error_name,
    is_broker_down,
    is_transient,
    raise_fatal,
)
from broker_plugin.serving.kafka_logging import DEFAULT_LOG_INTERVAL_S, RateLimiter, client_logger
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.pipeline import AlertPipeline, BatchOutcome
from broker_plugin.serving.stop_signals import stop_on_signals
from broker_plugin.serving.timing import StageTimes

log = logging.getLogger("broker_plugin.consumer")


#: Exactly-once: abort-and-rewind this many times in a row before giving up on a batch.
MAX_CONSECUTIVE_ABORTS = 8
#: First pause before re-reading an aborted batch; doubles per abort in a row, capped at 5 s.
ABORT_BACKOFF_S = 0.2
#: Pause before re-reading a batch whose schemas the registry could not serve; it doubles
#: per failed try up to the maximum (below the liveness timeout: the loop ticks between).
#: librdkafka's (and Kafka's topic) default message size limit, and what a dead letter
#: keeps free of it for the key and the dlq.* headers.
DEFAULT_MESSAGE_MAX_BYTES = 1_000_000
DLQ_HEADROOM_BYTES = 64 * 1024
REGISTRY_BACKOFF_S = 1.0
REGISTRY_BACKOFF_MAX_S = 30.0
#: Seconds the start-up topic check waits for the cluster's metadata before riding it out.
METADATA_TIMEOUT_S = 10.0
#: While the cluster is unreachable: seconds between metadata probes, and each probe's wait.
PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 1.0
#: After this many seconds without a message, probe the cluster anyway: a frozen broker
#: (SIGSTOP, a hung JVM) keeps its connections open and raises no error, so an idle
#: consumer could not tell it from a quiet topic. Each probe waits IDLE_PROBE_TIMEOUT_S.
IDLE_PROBE_INTERVAL_S = 5.0
#: How long a batch's records may wait for acknowledgement (then the batch fails and the
#: process stops, offsets uncommitted), and after how long the wait counts as an outage.
DELIVERY_TIMEOUT_S = 60.0
FLUSH_STALL_S = 5.0
IDLE_PROBE_TIMEOUT_S = 3.0


class DeliveryFailedError(ServiceStopError):
    """Output or dead-letter records were not acknowledged; offsets were not committed."""


class TransactionAbortedError(ServiceStopError):
    """Exactly-once: the same batch's transaction kept aborting; offsets were not committed."""


@dataclass
class RunSummary:
    """What one `run` did (printed at exit, asserted in tests)."""

    consumed: int = 0
    classified: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    aborted: int = 0
    transient_errors: dict[str, int] = field(default_factory=dict)
    times: StageTimes = field(default_factory=StageTimes)
    stopped_by: str = ""


class _Deliveries:
    """Counts delivery reports of the records of one batch."""

    def __init__(self) -> None:
        self.pending = 0
        self.failed: list[str] = []

    def callback(self, err: KafkaError | None, msg: Message) -> None:
        self.pending -= 1
        if err is not None:
            self.failed.append(f"{msg.topic()}: {err.name()} ({err.str()})")


class AlertConsumer:
    """The service: `run()` loops until a signal, `max_messages`, or a fatal error."""

    def __init__(
        self,
        config: ServingConfig,
        pipeline: AlertPipeline,
        serializer: OutputSerializer,
        observer: Any | None = None,
        consumer_factory: Callable[[dict[str, Any]], Any] = Consumer,
        producer_factory: Callable[[dict[str, Any]], Any] = Producer,
        log_interval_s: float = DEFAULT_LOG_INTERVAL_S,
        metadata_timeout_s: float = METADATA_TIMEOUT_S,
        tune_allocator: bool = True,
    ) -> None:
        if tune_allocator:  # big payloads freed every batch: see serving.allocator
            keep_freed_memory()
        self.config = config
        self.pipeline = pipeline
        self.serializer = serializer
        self.observer = observer
        self.metadata_timeout_s = metadata_timeout_s
        self.consumer = consumer_factory(
            {
                **config.consumer_settings(),
                "error_cb": self._on_consumer_error,
                "logger": client_logger("consumer", log_interval_s),
            }
        )
        self.producer = producer_factory(
            {
                **config.producer_settings(),
                "error_cb": self._on_client_error,
                "logger": client_logger("producer", log_interval_s),
            }
        )
        self._limiter = RateLimiter(log_interval_s)
        self._unreachable_since: float | None = None
        self._topics_checked = False
        self._last_probe = -float("inf")
        self._last_message_at = time.monotonic()
        self.summary = RunSummary()
        self._stop = threading.Event()
        self._revoked: set[tuple[str, int]] = set()
        self._fatal: KafkaError | None = None
        self._aborts_in_row = 0
        # Room for the key and headers under the producer's message size limit.
        self._dlq_value_limit = int(self.config.producer_settings().get(
            "message.max.bytes", DEFAULT_MESSAGE_MAX_BYTES)) - DLQ_HEADROOM_BYTES
        self._registry_down_since: float | None = None
        self._registry_tries = 0
        self._plugin = f"{pipeline.card.name}:{pipeline.card.version}"

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to finish the batch in hand and exit (thread- and signal-safe)."""
        if not self._stop.is_set():
            self.summary.stopped_by = reason
        self._stop.set()

    def run(self) -> RunSummary:
        """Consume until stopped; always flushes, commits what is durable, and closes."""
        with stop_on_signals(self.stop):
            try:
                self._probe(self.metadata_timeout_s)
                if self.config.exactly_once:
                    self.producer.init_transactions(30)
                self.consumer.subscribe(
                    self.config.input_topics,
                    on_assign=self._on_assign,
                    on_revoke=self._on_revoke,
                    on_lost=self._on_lost,
                )
                self._hook("running", True)
                log.info(
                    "consuming %s as group %s", self.config.input_topics, self.config.group_id
                )
                while not self._stop.is_set():
                    batch = self._collect()
                    if self._fatal is not None:
                        raise_fatal(self._fatal, "kafka client")
                    if batch:
                        self._handle(batch)
                    if self._limit_reached():
                        self.stop("max-messages")
            finally:
                self._close()
        return self.summary

    def _limit_reached(self) -> bool:
        limit = self.config.max_messages
        return limit is not None and self.summary.consumed >= limit

    def _close(self) -> None:
        self._hook("running", False)
        try:
            remaining = self.producer.flush(10)
            if remaining:
                log.warning("%d records still unacknowledged at close", remaining)
        finally:
            self.consumer.close()  # leaves the group; triggers a cooperative rebalance
        log.info(
            "stopped (%s): %d consumed, %d classified, %d dead-lettered, %d commits, "
            "%d aborted transactions",
            self.summary.stopped_by or "end",
            self.summary.consumed,
            self.summary.classified,
            self.summary.dead_lettered,
            self.summary.commits,
            self.summary.aborted,
        )

    # -- rebalance callbacks ---------------------------------------------------------------

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", _names(partitions))
        for p in partitions:
            self._revoked.discard((p.topic, p.partition))
        self._hook("assigned", len(partitions))

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", _names(partitions))
        self._revoked.update((p.topic, p.partition) for p in partitions)
        self._hook("assigned", -len(partitions))

    def _on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s (session expired)", _names(partitions))
        self._revoked.update((p.topic, p.partition) for p in partitions)
        self._hook("assigned", -len(partitions))

    # -- errors ----------------------------------------------------------------------------

    def _on_client_error(self, err: KafkaError) -> None:
        """Both clients' errors: an unreachable cluster is counted and reported once per
        interval (naming the bootstrap address), other transient ones counted, the rest fatal."""
        if is_broker_down(err):
            name = error_name(err)
            self.summary.transient_errors[name] = self.summary.transient_errors.get(name, 0) + 1
            self._warn_unreachable(err)
        elif is_transient(err):
            self._count_transient(err)
        elif self._fatal is None:  # librdkafka reports it at every retry: one line is enough
            log.error("kafka client error %s: %s", error_name(err), err.str())
            self._fatal = err

    def _on_consumer_error(self, err: KafkaError) -> None:
        """The consumer's errors. Its connections (fetches, heartbeats) are never idle, so its
        `_ALL_BROKERS_DOWN` means the cluster is away (an idle producer's may not): only this
        one makes /readyz 503, until a metadata probe answers."""
        if is_broker_down(err) and err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._mark_unreachable()
        self._on_client_error(err)

    def _count_transient(self, err: KafkaError) -> None:
        """Count by name; log at most once per interval per name, with the count so far."""
        name = error_name(err)
        seen = self.summary.transient_errors.get(name, 0) + 1
        self.summary.transient_errors[name] = seen
        if self._limiter.allow(("transient", name)) is not None:
            log.warning("transient kafka error %s (x%d so far): %s", name, seen, err.str())

    # -- reachability and the input-topic check --------------------------------------------

    def _probe(self, timeout_s: float, topic: str | None = None) -> None:
        """One metadata request (all topics, or `topic`): reachability, then the input-topic
        check once.

        Raises MissingTopicError when an input topic does not exist; an unreachable
        cluster is logged and ridden out (the loop probes again, see `_maybe_probe`).
        """
        self._last_probe = time.monotonic()
        try:
            metadata = self.consumer.list_topics(topic=topic, timeout=timeout_s)
        except KafkaException as exc:
            err = exc.args[0]
            if err.fatal():
                raise
            self._mark_unreachable()
            self._warn_unreachable(err)
            return
        self._mark_reachable()
        if not self._topics_checked:
            self._topics_checked = True
            self._check_input_topics(metadata.topics)

    def _maybe_probe(self) -> None:
        """While unreachable (or the topics are unchecked), probe every PROBE_INTERVAL_S;
        while idle, every IDLE_PROBE_INTERVAL_S (see there)."""
        now = time.monotonic()
        if self._unreachable_since is not None or not self._topics_checked:
            if now - self._last_probe >= PROBE_INTERVAL_S:
                self._probe(PROBE_TIMEOUT_S)
        elif now - max(self._last_message_at, self._last_probe) >= \
                IDLE_PROBE_INTERVAL_S:  # one input topic's metadata: cheap on a big cluster
            names = [t for t in self.config.input_topics if not t.startswith("^")]
            self._probe(IDLE_PROBE_TIMEOUT_S, names[0] if names else None)

    def _check_input_topics(self, topics: dict[str, Any]) -> None:
        """Stop in one line when an input topic (a name, not a ^regex) does not exist."""
        missing = []
        for name in self.config.input_topics:
            if name.startswith("^"):
                continue
            found = topics.get(name)
            error = getattr(found, "error", None)
            if found is None or (
                error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            ):
                missing.append(name)
        if not missing:
            return
        self.stop("missing input topic")
        what = (
            f"input topic {missing[0]!r} does not"
            if len(missing) == 1
            else f"input topics {', '.join(repr(t) for t in missing)} do not"
        )
        raise MissingTopicError(
            f"{what} exist at {self.config.bootstrap_servers}; create "
            f"{'it' if len(missing) == 1 else 'them'} (kafka-topics.sh --create --topic "
            f"{missing[0]}, or `broker-plugin produce --create-topic --topic {missing[0]} ...`) "
            "or correct --input-topic (BROKER_PLUGIN_INPUT_TOPIC)"
        )

    def _mark_unreachable(self) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            self._set_reachable(False)

    def _mark_reachable(self) -> None:
        if self._unreachable_since is not None:
            log.info(
                "kafka at %s reachable again after %.1f s",
                self.config.bootstrap_servers,
                time.monotonic() - self._unreachable_since,
            )
            self._unreachable_since = None
            self._set_reachable(True)

    def _warn_unreachable(self, err: KafkaError) -> None:
        """At most one line per interval, naming the bootstrap address."""
        held = self._limiter.allow("unreachable")
        if held is None:
            return
        state = (
            "; /readyz answers 503 until it answers" if self._unreachable_since is not None else ""
        )
        log.warning(
            "kafka at %s unreachable: %s (%s); retrying%s%s",
            self.config.bootstrap_servers,
            error_name(err),
            err.str(),
            state,
            f" ({held} similar errors since the last line)" if held else "",
        )

    def _set_reachable(self, reachable: bool) -> None:
        """Tell the observer (hook `broker_reachable`) whether the cluster answers."""
        self._hook("broker_reachable", reachable, self.config.bootstrap_servers)

    # -- one batch -------------------------------------------------------------------------

    def _collect(self) -> list[Message]:
        """Up to batch_size messages; the wait window opens at the first message."""
        config = self.config
        want = config.batch_size
        if config.max_messages is not None:
            want = min(want, config.max_messages - self.summary.consumed)
        buffer: list[Message] = []
        deadline: float | None = None
        slice_s = config.poll_slice_ms / 1000.0
        while len(buffer) < want and not self._stop.is_set():
            self._maybe_probe()
            if deadline is None:
                timeout = slice_s
            else:
                timeout = min(slice_s, deadline - time.monotonic())
                if timeout <= 0:
                    break
            self._revoked.clear()
            self._hook("tick")
            messages = self._consume(want - len(buffer), timeout, waiting=not buffer)
            if self._revoked:  # their new owner re-reads them; `_consume` may call twice
                revoked = self._revoked
                buffer = [m for m in buffer if (m.topic(), m.partition()) not in revoked]
                messages = [m for m in messages if (m.topic(), m.partition()) not in revoked]
            if messages:
                self._last_message_at = time.monotonic()
            for message in messages:
                err = message.error()
                if err is None:
                    buffer.append(message)
                elif is_transient(err):
                    self._count_transient(err)
                else:
                    raise_fatal(err, f"consume from {message.topic()}")
            if buffer and deadline is None:
                deadline = time.monotonic() + config.batch_wait_ms / 1000.0
            if not buffer and self._fatal is not None:
                break
            if not buffer:
                self.producer.poll(0)  # serve its error callbacks and log lines while idle
                self._hook("idle", self.consumer)
        return buffer

    def _consume(self, n: int, timeout: float, waiting: bool) -> list[Message]:
        """Up to n messages. librdkafka's batch consume waits out its whole timeout unless n
        arrive, so an empty batch first takes what is queued (timeout 0), then, if nothing
        was, waits for ONE message and takes what is queued with it: the batch-wait window
        opens when the first message arrives, not a poll slice later (at 1,000 alerts/s a
        100 ms slice was 100 ms of latency for the first alert of every batch)."""
        consume = self.consumer.consume
        if not waiting:
            return list(consume(num_messages=n, timeout=timeout))
        messages = list(consume(num_messages=n, timeout=0))
        if messages:
            return messages
        messages = list(consume(num_messages=1, timeout=timeout))
        if messages and n > 1:
            messages += consume(num_messages=n - 1, timeout=0)
        return messages

    def _handle(self, batch: list[Message]) -> None:
        ingest_ms = int(time.time() * 1000)
        try:
            outcome = self.pipeline.process([m.value() or b"" for m in batch], ingest_ms)
        except SchemaRegistryUnavailableError as exc:
            self._registry_unavailable(batch, exc)
            return
        self._registry_available()
        times = outcome.times
        offsets = _next_offsets(batch)
        if self.config.exactly_once:
            done = self._transact(batch, outcome, offsets)
        else:
            deliveries = _Deliveries()
            with times.stage("produce"):
                self._produce(batch, outcome, deliveries)
            with times.stage("commit"):
                self._commit_after_delivery(deliveries, offsets)
            done = True
        if not done:  # aborted and rewound: the batch will be consumed again, count it then
            return
        summary = self.summary
        summary.consumed += len(batch)
        summary.classified += len(outcome.classified)
        summary.dead_lettered += len(outcome.rejected)
        summary.batches += 1
        summary.times.add(times)
        self._hook("batch", batch, outcome, self.consumer)

    def _transact(
        self, batch: list[Message], outcome: BatchOutcome, offsets: list[TopicPartition]
    ) -> bool:
        """Exactly-once: records and offsets in one transaction; False when it was aborted.

        An abortable error may surface while producing (a later record of a big batch) or at
        commit; either way the whole transaction is aborted and the batch rewound.
        """
        times = outcome.times
        self.producer.begin_transaction()
        try:
            with times.stage("produce"):
                self._produce(batch, outcome, _Deliveries())
            with times.stage("commit"):
                self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), 30
                )
                self.producer.commit_transaction(60)
        except KafkaException as exc:
            err = exc.args[0]
            if not err.txn_requires_abort():
                raise
            self._abort(batch, err)
            return False
        self._aborts_in_row = 0
        self.summary.commits += 1
        return True

    def _produce(
        self, batch: list[Message], outcome: BatchOutcome, deliveries: _Deliveries
    ) -> None:
        config = self.config
        serialize = self.serializer.serialize
        headers = self.serializer.headers
        for item in outcome.classified:
            self._send(
                deliveries,
                config.output_topic,
                serialize(item.record),
                item.key.encode(),
                headers,
            )
        for reject in outcome.rejected:
            message = batch[reject.index]
            value, dropped = dead_letter_value(message.value(), self._dlq_value_limit)
            self._send(
                deliveries,
                config.dlq_topic,
                value,
                message.key(),
                dead_letter_headers(
                    reject.reason,
                    reject.message,
                    reject.schema_id,
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    original=message.headers(),
                    plugin=self._plugin,
                    dropped_bytes=dropped,
                ),
            )
        self.producer.poll(0)

    def _send(
        self,
        deliveries: _Deliveries,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None,
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=deliveries.callback
                )
                deliveries.pending += 1
                return
            except BufferError:  # local queue full: serve delivery reports, then retry
                self.producer.poll(0.05)

    def _commit_after_delivery(
        self, deliveries: _Deliveries, offsets: list[TopicPartition]
    ) -> None:
        remaining = self._flush(DELIVERY_TIMEOUT_S)
        if remaining or deliveries.pending > 0 or deliveries.failed:
            raise DeliveryFailedError(
                f"{len(deliveries.failed)} record(s) rejected by Kafka and "
                f"{max(remaining, deliveries.pending)} unacknowledged "
                f"({'; '.join(deliveries.failed[:3])}); offsets not committed, the batch "
                "will be re-read after restart"
            )
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
            self.summary.commits += 1
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() in LOST_OWNERSHIP_CODES:
                log.warning(
                    "commit skipped (%s): partitions moved to another consumer; "
                    "it re-reads this batch (at-least-once)",
                    error_name(err),
                )
            else:  # e.g. FENCED_INSTANCE_ID after a broker restart: a new consumer is needed
                raise_fatal(err, "commit (offsets not committed; a restart re-reads the batch)")

    def _flush(self, timeout_s: float) -> int:
        """producer.flush in one-second slices: the loop keeps ticking (liveness), and a
        cluster that acknowledges nothing for FLUSH_STALL_S (a frozen broker raises no
        error) makes /readyz 503 until it does. Returns the records still unacknowledged."""
        started = time.monotonic()
        stalled = False
        while True:
            left = started + timeout_s - time.monotonic()
            remaining = int(self.producer.flush(max(min(1.0, left), 0.0)))
            if remaining == 0 or left <= 1.0:
                break
            self._hook("tick")
            if not stalled and time.monotonic() - started >= FLUSH_STALL_S:
                stalled = True
                self._mark_unreachable()
                log.warning("kafka at %s has left %d record(s) unacknowledged for %.0f s; "
                            "waiting up to %.0f s; /readyz answers 503 meanwhile",
                            self.config.bootstrap_servers, remaining, FLUSH_STALL_S,
                            timeout_s)
        if stalled and remaining == 0:
            self._mark_reachable()
        return remaining

    def _abort(self, batch: list[Message], err: KafkaError) -> None:
        """Abort the open transaction and rewind to the batch's first offsets.

        The failure (a record the broker refused, a fenced epoch bump, a timeout) is retried
        by re-reading the batch after a growing pause; `MAX_CONSECUTIVE_ABORTS` in a row means
        it is not transient, and the loop stops (offsets stay where the last committed
        transaction left them, so nothing is lost).
        """
        self._aborts_in_row += 1
        self.summary.aborted += 1
        log.warning(
            "transaction aborted (%s: %s); rewinding %d message(s), attempt %d",
            error_name(err),
            err.str(),
            len(batch),
            self._aborts_in_row,
        )
        self.producer.abort_transaction(30)
        self._rewind(batch)
        self._hook("aborted", len(batch))
        if self._aborts_in_row >= MAX_CONSECUTIVE_ABORTS:
            raise TransactionAbortedError(
                f"{self._aborts_in_row} transactions aborted in a row, last: "
                f"{error_name(err)} ({err.str()}); stopping with offsets uncommitted"
            )
        self._stop.wait(min(ABORT_BACKOFF_S * 2 ** (self._aborts_in_row - 1), 5.0))

    def _registry_unavailable(self, batch: list[Message], exc: SchemaRegistryUnavailableError
                              ) -> None:
        """A registry outage is handled like a broker outage, not as bad alerts: nothing of
        the batch is produced or committed, it is rewound and re-read after a growing pause,
        /readyz answers 503 meanwhile, one log line per interval names the registry."""
        if self._registry_down_since is None:
            self._registry_down_since = time.monotonic()
            self._hook("registry_reachable", False, exc.url)
        self._registry_tries += 1
        self._rewind(batch)
        pause = min(REGISTRY_BACKOFF_S * 2 ** (self._registry_tries - 1), REGISTRY_BACKOFF_MAX_S)
        held = self._limiter.allow("registry")
        if held is not None:
            log.warning(
                "%s; rewound %d alert(s), nothing committed past them, /readyz answers 503; "
                "retrying in %.0f s%s", exc, len(batch), pause,
                f" ({held} similar errors since the last line)" if held else "")
        self._hook("tick")
        self._stop.wait(pause)

    def _registry_available(self) -> None:
        if self._registry_down_since is not None:
            log.info("schema registry answering again after %.1f s",
                     time.monotonic() - self._registry_down_since)
            self._registry_down_since = None
            self._registry_tries = 0
            self._hook("registry_reachable", True, None)

    def _rewind(self, batch: list[Message]) -> None:
        first: dict[tuple[str, int], int] = {}
        for m in batch:
            key, offset = _position(m)
            first[key] = min(first.get(key, offset), offset)
        for (topic, partition), offset in first.items():
            self.consumer.seek(TopicPartition(topic, partition, offset))

    # -- monitoring hooks ------------------------------------------------------------------

    def _hook(self, name: str, *args: Any) -> None:
        """Call the observer's hook `name` (see serving.observer), if it has one."""
        hook = getattr(self.observer, name, None)
        if hook is not None:
            hook(*args)


def _next_offsets(batch: list[Message]) -> list[TopicPartition]:
    """Per partition, the offset after the last message of the batch (what commit wants)."""
    last: dict[tuple[str, int], int] = {}
    for m in batch:
        key, offset = _position(m)
        last[key] = max(last.get(key, -1), offset)
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def _position(message: Message) -> tuple[tuple[str, int], int]:
    """((topic, partition), offset) of a consumed message (all three always set there)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"message without a position: {topic}/{partition}@{offset}")
    return (topic, partition), offset


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"


__all__ = [
    "AlertConsumer",
    "DeliveryFailedError",
    "FatalKafkaError",
    "MissingTopicError",
    "RunSummary",
    "TransactionAbortedError",
]
