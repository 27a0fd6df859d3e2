"""librdkafka's log lines through Python logging, with repeats rate-limited.

Every Kafka client we create (consumer, producer, admin) gets a `logging.Logger` as
confluent-kafka's ``logger`` setting, so librdkafka's lines (``FAIL``, ``CONFWARN``, ...) go
to the handlers the process configured (``broker_plugin.kafka.<role>``) instead of raw
``%3|...|FAIL|`` lines on stderr. A broker that is down makes librdkafka log a failed
connect every few hundred milliseconds; so each client's logger lets an identical line (same
facility, same text with every number masked) through at most once per interval, and the
next one that gets through says how many were suppressed meanwhile.

`RateLimiter` is the counting part alone, also used by the consumer for its own
"broker unreachable" line; its clock is injectable for tests.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

#: Parent of every client's logger; set its level or handlers to tune librdkafka's output.
KAFKA_LOGGER = "broker_plugin.kafka"
#: Seconds between two identical lines (librdkafka's or our broker-unreachable line).
DEFAULT_LOG_INTERVAL_S = 30.0
#: Distinct lines remembered per limiter before old ones are forgotten.
MAX_KEYS = 1024

_NUMBER = re.compile(r"\d+")


def mask_numbers(text: str) -> str:
    """`text` with every run of digits replaced by '#', so counters and ports compare equal."""
    return _NUMBER.sub("#", text)


class RateLimiter:
    """Lets one event per key through per interval and counts the ones it holds back."""

    def __init__(
        self,
        interval_s: float = DEFAULT_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if interval_s < 0:
            raise ValueError(f"interval_s must be >= 0, got {interval_s}")
        self.interval_s = float(interval_s)
        self.clock = clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}  # key -> when it last got through
        self._held: dict[Hashable, int] = {}  # key -> suppressed since then

    def allow(self, key: Hashable) -> int | None:
        """None: hold this one back. Otherwise let it through; the int is how many of the
        same key were held back since the last one that got through (0 the first time)."""
        with self._lock:
            now = self.clock()
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            if last is None and len(self._last) >= self.max_keys:
                self._forget(now)
            self._last[key] = now
            return self._held.pop(key, 0)

    def held(self, key: Hashable) -> int:
        """How many of `key` are held back right now (for tests and summaries)."""
        with self._lock:
            return self._held.get(key, 0)

    def _forget(self, now: float) -> None:
        """Drop keys whose interval ended; if that is not enough, the oldest half."""
        expired = [k for k, t in self._last.items() if now - t >= self.interval_s]
        if len(self._last) - len(expired) >= self.max_keys:
            by_age = sorted(self._last, key=self._last.__getitem__)
            expired = by_age[: len(by_age) // 2]
        for key in expired:
            self._last.pop(key, None)
            self._held.pop(key, None)


class RateLimitFilter(logging.Filter):
    """A logging filter: identical lines (numbers masked) at most once per interval.

    librdkafka's records (through confluent-kafka) are ``"%s [%s] %s" % (facility,
    client name, text)``; their key is (facility, masked text), so the same failure seen
    by two clients of one logger also counts as one. Other records key on the masked
    message. A line that gets through after repeats were held back ends with their count.
    """

    def __init__(
        self,
        interval_s: float = DEFAULT_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.limiter = RateLimiter(interval_s, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        suppressed = self.limiter.allow(_record_key(record, text))
        if suppressed is None:
            return False
        if suppressed:
            record.msg = (
                f"{text} ({suppressed} similar line{'s' if suppressed != 1 else ''} suppressed "
                f"since the last one; at most one per {self.limiter.interval_s:g} s)"
            )
            record.args = ()
        return True


def _record_key(record: logging.LogRecord, text: str) -> tuple[str, str]:
    args = record.args
    if isinstance(args, tuple) and len(args) == 3 and record.msg == "%s [%s] %s":
        return str(args[0]), mask_numbers(str(args[2]))
    return record.levelname, mask_numbers(text)


class _ClientLogger(logging.Logger):
    """A logger outside the logging registry (one per client, so one limiter per client),
    parented to `KAFKA_LOGGER`; it asks its parents for the level on every call, since the
    registry's cache reset does not reach it."""

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 (logging's name)
        if self.manager.disable >= level:
            return False
        return level >= self.getEffectiveLevel()


def client_logger(
    role: str,
    interval_s: float = DEFAULT_LOG_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
) -> logging.Logger:
    """A fresh rate-limited logger named ``broker_plugin.kafka.<role>`` for one client."""
    logger = _ClientLogger(f"{KAFKA_LOGGER}.{role}")
    logger.parent = logging.getLogger(KAFKA_LOGGER)
    logger.addFilter(RateLimitFilter(interval_s, clock))
    return logger


def with_logger(
    settings: dict[str, Any], role: str, interval_s: float = DEFAULT_LOG_INTERVAL_S
) -> dict[str, Any]:
    """`settings` plus ``logger``: a client config whose librdkafka lines go to Python logging.

    AdminClient's lines are delivered by its ``poll()``; consumers' and producers' by their
    usual poll/consume calls.
    """
    return {**settings, "logger": client_logger(role, interval_s)}


__all__ = [
    "DEFAULT_LOG_INTERVAL_S",
    "KAFKA_LOGGER",
    "RateLimitFilter",
    "RateLimiter",
    "client_logger",
    "mask_numbers",
    "with_logger",
]
