"""SIGINT/SIGTERM as a clean stop for the Kafka read loops (`run`, `capture`).

A signal does not interrupt the loop: it calls `stop(<signal name>)`, the loop finishes the
batch in hand and leaves; the handlers in place before are restored afterwards. Python lets
only the main thread install handlers, so elsewhere (tests, embedding code) nothing is done.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """Within the block SIGINT and SIGTERM call `stop("SIGINT")` / `stop("SIGTERM")`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous.append((sig, signal.getsignal(sig)))
        signal.signal(sig, lambda s, _f: stop(signal.Signals(s).name))
    try:
        yield
    finally:
        for sig, handler in previous:
            signal.signal(sig, handler)
