"""A Confluent-compatible schema registry on loopback, for tests and benches.

Answers ``GET /schemas/ids/{id}`` with the schema texts it was given and a Confluent-style
404 for any other id. It fails on demand, so the plugin's handling of registry outages can
be tried against real HTTP: `down` makes every request a 503, `fail_next(n, status)` fails
the next n requests with `status`. Every request path is recorded in `calls`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubSchemaRegistry:
    """Use as a context manager: the server runs inside the block, `url` is its address."""

    def __init__(self, schemas: Mapping[int, str]) -> None:
        self.schemas = dict(schemas)
        self.calls: list[str] = []
        self.down = False
        self._failures = 0
        self._failure_status = 503
        self._server: ThreadingHTTPServer | None = None

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next `n` requests with `status` (then serve again)."""
        self._failures, self._failure_status = n, status

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub registry is not running (use it in a with block)")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, path: str) -> tuple[int, bytes]:
        self.calls.append(path)
        if self.down:
            return 503, b""
        if self._failures > 0:
            self._failures -= 1
            return self._failure_status, b""
        prefix = "/schemas/ids/"
        if path.startswith(prefix) and path[len(prefix):].isdigit():
            text = self.schemas.get(int(path[len(prefix):]))
            if text is not None:
                return 200, json.dumps({"schema": text}).encode()
        return 404, b'{"error_code":40403,"message":"Schema not found"}'

    def __enter__(self) -> StubSchemaRegistry:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = registry._answer(self.path)
                self.send_response(status)
                if status == 200:
                    self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
