"""The plugin's HTTP endpoint: /metrics (Prometheus), /healthz (liveness), /readyz (readiness).

One small threaded server from the standard library, so the probes and the scrape share a
port (the chart's Service, ServiceMonitor and probes all point at it)::

    from broker_plugin.health import Health
    from broker_plugin.http_server import DEFAULT_METRICS_PORT, start_http_server
    from broker_plugin.metrics import PluginMetrics

    metrics, health = PluginMetrics(...), Health(liveness_timeout=60)
    server = start_http_server(port, metrics.registry, health)   # port 0: any free port
    ...
    server.close()                                                # on shutdown

/healthz and /readyz answer 200 or 503 with a small JSON body saying why.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from broker_plugin.health import Health, Probe

DEFAULT_METRICS_PORT = 9108


class MetricsServer:
    """A running server; `port` is the bound port (useful with port 0)."""

    def __init__(self, httpd: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_http_server(
    port: int = DEFAULT_METRICS_PORT,
    registry: CollectorRegistry | None = None,
    health: Health | None = None,
    addr: str = "0.0.0.0",
) -> MetricsServer:
    """Serve in a daemon thread and return at once."""
    served_registry: CollectorRegistry = (
        registry if registry is not None else CollectorRegistry())
    probes: Health = health if health is not None else Health()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(served_registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._probe(probes.liveness())
            elif path == "/readyz":
                self._probe(probes.readiness())
            else:
                self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain")

        def _probe(self, probe: Probe) -> None:
            body: dict[str, Any] = {"ok": probe.ok, **probe.detail}
            self._send(200 if probe.ok else 503, json.dumps(body).encode() + b"\n",
                       "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes hit every few seconds: no access log."""

    httpd = ThreadingHTTPServer((addr, port), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return MetricsServer(httpd, thread)
