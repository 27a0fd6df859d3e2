"""Liveness and readiness state of a running plugin, updated by the consumer loop.

Kubernetes asks two different questions, and each maps to one fact the loop knows:

* liveness (``/healthz``): is the poll loop still turning? The loop calls :meth:`Health.tick`
  on every poll (including empty polls); if no tick came for ``liveness_timeout`` seconds the
  process is stuck (deadlock, hung broker call) and should be restarted. Keep the timeout
  well above the longest batch (decode + inference + produce + commit) so a slow batch is
  not mistaken for a hang.
* readiness (``/readyz``): can it do work? The model is loaded and the consumer is running
  (subscribed to its topics). Assigned partitions are reported but not required by default:
  with more pods than partitions an idle pod is healthy, and making it unready would stall
  rolling updates and PodDisruptionBudgets for no gain (set ``require_assignment`` to
  change that). While the Kafka cluster is unreachable (the consumer saw
  ``_ALL_BROKERS_DOWN`` and no metadata request has answered since) it is not ready either:
  the detail then says since when and at which bootstrap address. The same holds while the
  schema registry cannot serve a schema the stream needs (the consumer rewinds and waits,
  it does not dead-letter alerts during an outage), and while the loop has not turned for
  15 s (blocked on a broker that neither answers nor fails, e.g. frozen).

Wiring::

    health = Health(config.liveness_timeout)  # --liveness-timeout, default 60 s
    health.model_loaded(card.version)   # after onnxruntime built the session
    health.consumer_running(True)       # after subscribe(); False on shutdown
    health.partitions_assigned(n)       # from on_assign / on_revoke callbacks
    health.broker_reachable(False, addr)  # all brokers down; True once metadata answers
    health.registry_reachable(False, url)  # registry outage; True once it serves schemas
    health.tick()                       # every poll
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from broker_plugin.serving.options import env_name

DEFAULT_LIVENESS_TIMEOUT = 60.0
#: Where the timeout comes from in a deployment: the variable of `--liveness-timeout`
#: (`ServingConfig.liveness_timeout`; the chart sets it from probes.livenessTimeoutSeconds).
LIVENESS_TIMEOUT_ENV = env_name("liveness_timeout")


@dataclass(frozen=True)
class Probe:
    """One probe's answer: ok, and a JSON-able detail for humans and `kubectl describe`."""

    ok: bool
    detail: dict[str, Any]


#: A running loop that has not turned for this long is not ready (not yet dead: that is the
#: liveness timeout's call). A synchronous commit to a frozen broker blocks it silently.
READY_STALL_S = 15.0
#: How readiness details name each dependency's address.
_ADDRESS_KEY = {"kafka": "bootstrap", "schema_registry": "url"}


class Health:
    """Thread-safe health facts; the HTTP server reads them, the consumer loop writes them."""

    def __init__(
        self,
        liveness_timeout: float = DEFAULT_LIVENESS_TIMEOUT,
        require_assignment: bool = False,
    ) -> None:
        if liveness_timeout <= 0:
            raise ValueError(f"liveness_timeout must be positive, got {liveness_timeout}")
        self.liveness_timeout = float(liveness_timeout)
        self.require_assignment = require_assignment
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_tick: float | None = None
        self._model_version: str | None = None
        self._running = False
        self._partitions = 0
        #: Per dependency ("kafka", "schema_registry"): since when it is unreachable.
        self._unreachable_since: dict[str, float] = {}
        self._address: dict[str, str] = {}

    def tick(self) -> None:
        with self._lock:
            self._last_tick = time.monotonic()

    def model_loaded(self, version: str) -> None:
        with self._lock:
            self._model_version = version

    def consumer_running(self, running: bool) -> None:
        with self._lock:
            self._running = running

    def partitions_assigned(self, count: int) -> None:
        with self._lock:
            self._partitions = int(count)

    def broker_reachable(self, reachable: bool, bootstrap: str | None = None) -> None:
        """False while the Kafka cluster at `bootstrap` cannot be reached; True once it can."""
        self._reachable("kafka", reachable, bootstrap)

    def registry_reachable(self, reachable: bool, url: str | None = None) -> None:
        """False while the schema registry at `url` cannot serve schemas; True once it can."""
        self._reachable("schema_registry", reachable, url)

    def _reachable(self, dependency: str, reachable: bool, address: str | None) -> None:
        with self._lock:
            if reachable:
                self._unreachable_since.pop(dependency, None)
            else:
                self._unreachable_since.setdefault(dependency, time.monotonic())
            if address is not None:
                self._address[dependency] = address

    def liveness(self, now: float | None = None) -> Probe:
        """Alive while the loop ticked within the timeout (or start-up is within it)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            reference = self._last_tick if self._last_tick is not None else self._started
            age = now - reference
            ticked = self._last_tick is not None
        return Probe(
            ok=age <= self.liveness_timeout,
            detail={"seconds_since_tick" if ticked else "seconds_since_start": round(age, 3),
                    "timeout": self.liveness_timeout},
        )

    def readiness(self, now: float | None = None) -> Probe:
        """Ready: model loaded, consumer running, Kafka and registry reachable (and partitions
        if required).

        The detail names the broker or registry only while it is unreachable, so a healthy
        answer keeps its three keys.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            ok = self._model_version is not None and self._running
            if self.require_assignment:
                ok = ok and self._partitions > 0
            detail: dict[str, Any] = {
                "model_version": self._model_version,
                "consumer_running": self._running,
                "assigned_partitions": self._partitions,
            }
            for dependency, since in self._unreachable_since.items():
                ok = False
                detail[f"{dependency}_unreachable"] = {
                    _ADDRESS_KEY[dependency]: self._address.get(dependency),
                    "seconds": round(now - since, 3),
                }
            if self._running and self._last_tick is not None and \
                    now - self._last_tick > READY_STALL_S:
                ok = False  # blocked on Kafka: a frozen broker answers no commit, no error
                detail["loop_stalled_seconds"] = round(now - self._last_tick, 3)
            return Probe(ok=ok, detail=detail)
