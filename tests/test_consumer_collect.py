"""The consumer's batch collection and its malloc settings, without a broker.

`_collect` must not wait out a poll slice with a message in hand: librdkafka's batch consume
blocks for its whole timeout unless `num_messages` arrive, so waiting with num_messages > 1
on an empty buffer adds up to a slice of latency to the first alert of every batch.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from broker_plugin.serving.classifier import Classifier
from broker_plugin.serving.config import ServingConfig
from broker_plugin.serving.consumer import AlertConsumer
from broker_plugin.serving.output import OutputSerializer
from broker_plugin.serving.pipeline import AlertPipeline
from devtools.model_fixture import write_fixture_model


class Msg:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "in"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return b"x"


class ArrivingConsumer:
    """Messages that arrive over 'time'; each consume call is recorded.

    A call with num_messages > 1 and a timeout waits the whole timeout (as librdkafka's does)
    and is recorded as such; `arrivals` lists how many messages arrive before each call.
    """

    def __init__(self, arrivals: list[int]) -> None:
        self.arrivals = list(arrivals)
        self.queued: list[Msg] = []
        self.next_offset = 0
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        self.calls.append((num_messages, timeout))
        for _ in range(self.arrivals.pop(0) if self.arrivals else 0):
            self.queued.append(Msg(self.next_offset))
            self.next_offset += 1
        out, self.queued = self.queued[:num_messages], self.queued[num_messages:]
        return out


class RevokingConsumer(ArrivingConsumer):
    """Like ArrivingConsumer; the call numbered `revoke_at` first runs the revoke callback
    for partition 0 (as librdkafka serves a rebalance inside consume)."""

    def __init__(self, arrivals: list[int], revoke_at: int) -> None:
        super().__init__(arrivals)
        self.revoke_at = revoke_at
        self.owner: AlertConsumer | None = None

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        if len(self.calls) == self.revoke_at and self.owner is not None:
            from confluent_kafka import TopicPartition

            self.owner._on_revoke(self, [TopicPartition("in", 0)])
            self.owner.stop("revoked")  # end the collection after this call
        return super().consume(num_messages, timeout)


class NullProducer:
    def poll(self, _timeout: float) -> int:
        return 0


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AlertPipeline:
    model = write_fixture_model(tmp_path_factory.mktemp("model"))
    return AlertPipeline(decoder=None, classifier=Classifier(model))  # type: ignore[arg-type]


def _consumer(pipeline: AlertPipeline, fake: Any, batch_wait_ms: int) -> AlertConsumer:
    config = ServingConfig(
        bootstrap_servers="unused:9092", input_topics=["in"], output_topic="out",
        dlq_topic="dlq", group_id="g", model_dir=Path("unused"), survey="compact",
        batch_size=100, batch_wait_ms=batch_wait_ms,
    )
    consumer = AlertConsumer(config, pipeline, OutputSerializer("json"),
                             consumer_factory=lambda _s: fake,
                             producer_factory=lambda _s: NullProducer(), tune_allocator=False)
    consumer._topics_checked = True  # no metadata probes in these tests
    consumer._last_message_at = consumer._last_probe = float("inf")
    return consumer


def test_first_message_is_not_held_for_a_poll_slice(pipeline: AlertPipeline) -> None:
    """Nothing queued, then 3 arrive: taken with a wait for ONE message, not for 100."""
    fake = ArrivingConsumer([0, 3, 0])
    batch = _consumer(pipeline, fake, batch_wait_ms=0)._collect()
    assert [m.offset() for m in batch] == [0, 1, 2]
    waits_for_many = [(n, t) for n, t in fake.calls if n > 1 and t > 0]
    assert waits_for_many == [], fake.calls


def test_queued_messages_are_taken_without_waiting(pipeline: AlertPipeline) -> None:
    """A backlog fills the batch in one call with timeout 0 (throughput under load)."""
    fake = ArrivingConsumer([250])
    batch = _consumer(pipeline, fake, batch_wait_ms=200)._collect()
    assert len(batch) == 100
    assert fake.calls == [(100, 0)]


def test_batch_wait_still_collects_more(pipeline: AlertPipeline) -> None:
    """With a batch wait, later arrivals join the batch (the window opens at the first)."""
    fake = ArrivingConsumer([0, 2, 0, 5, 0, 0, 0])
    consumer = _consumer(pipeline, fake, batch_wait_ms=60_000)
    consumer.config.batch_size = 7
    batch = consumer._collect()
    assert len(batch) == 7


def test_messages_of_a_partition_revoked_while_collecting_are_dropped(
    pipeline: AlertPipeline,
) -> None:
    """A revoke served in the call after the first message came: that message is dropped
    (its partition's new owner re-reads it), not processed and committed by us."""
    fake = RevokingConsumer([0, 1, 2], revoke_at=2)
    consumer = _consumer(pipeline, fake, batch_wait_ms=0)
    fake.owner = consumer
    assert consumer._collect() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_keep_freed_memory_serves_big_payloads_from_the_heap() -> None:
    """After the settings, 1 MB blocks are no longer separate mmaps (mallinfo2's hblks)."""
    probe = """
import ctypes, sys
sys.path.insert(0, {root!r})
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
                .split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "tuned":
    from broker_plugin.serving.allocator import keep_freed_memory
    assert keep_freed_memory()
before = libc.mallinfo2().hblks
blocks = [bytes(1 << 20) for _ in range(20)]
print(libc.mallinfo2().hblks - before)
"""
    root = str(Path(__file__).resolve().parents[1])
    try:
        import ctypes

        ctypes.CDLL(None).mallinfo2  # noqa: B018 — glibc >= 2.33
    except AttributeError:
        pytest.skip("no mallinfo2 (not glibc >= 2.33)")
    counts = {
        mode: int(subprocess.run([sys.executable, "-c", probe.format(root=root), mode],
                                 check=True, capture_output=True, text=True).stdout)
        for mode in ("plain", "tuned")
    }
    assert counts["plain"] >= 20  # glibc's default: each 1 MB block its own mmap
    assert counts["tuned"] == 0


def test_keep_freed_memory_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from broker_plugin.serving.allocator import keep_freed_memory

    monkeypatch.setenv("SELFREG_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
