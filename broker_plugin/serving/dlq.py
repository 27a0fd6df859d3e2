"""Dead-letter records: the original bytes, untouched, with why and where in the headers.

The value and key are the input's own bytes (a fixed decoder can replay them as they are);
the input's headers are kept and ours are appended, all prefixed `dlq.`:
`dlq.reason` (a `broker_plugin.rejections.Reason` code), `dlq.message` (one human line),
`dlq.schema_id`,
`dlq.origin.topic`, `dlq.origin.partition`, `dlq.origin.offset`, `dlq.timestamp_ms`,
`dlq.plugin`. Header values are UTF-8 strings so `kcat -f '%h'` shows them.

A value too large for the dead-letter topic (over the producer's `message.max.bytes`, Kafka's
1 MB by default) would fail every delivery and stop the stream on the same message after
each restart; it is dead-lettered without its value instead, with `dlq.value_dropped` giving
its size: the original stays at `dlq.origin.*` in the input topic for its retention.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

PREFIX = "dlq."
MAX_MESSAGE = 1000


def dead_letter_headers(
    reason: str,
    message: str,
    schema_id: int | None,
    topic: str | None,
    partition: int | None,
    offset: int | None,
    original: Sequence[tuple[str, Any]] | Mapping[str, Any] | None = None,
    plugin: str = "",
    dropped_bytes: int | None = None,
) -> list[tuple[str, bytes]]:
    """Headers of one dead letter: the original ones, then ours (see module docstring)."""
    ours = {
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "schema_id": "" if schema_id is None else str(schema_id),
        "origin.topic": topic or "",
        "origin.partition": "" if partition is None else str(partition),
        "origin.offset": "" if offset is None else str(offset),
        "timestamp_ms": str(int(time.time() * 1000)),
        "plugin": plugin,
    }
    if dropped_bytes is not None:
        ours["value_dropped"] = str(dropped_bytes)
    pairs = original.items() if isinstance(original, Mapping) else original or []
    headers = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs]
    headers.extend((PREFIX + k, v.encode()) for k, v in ours.items())
    return headers


def dead_letter_value(value: bytes | None, limit: int) -> tuple[bytes | None, int | None]:
    """(the value to dead-letter, its dropped size or None): the original bytes when they
    fit under `limit`, else nothing (module docstring)."""
    if value is not None and len(value) > limit:
        return None, len(value)
    return value, None


def read_dead_letter_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """Our `dlq.*` headers as a dict without the prefix (for tests, tools and replays)."""
    return {k[len(PREFIX) :]: (v or b"").decode() for k, v in headers or [] if k.startswith(PREFIX)}
