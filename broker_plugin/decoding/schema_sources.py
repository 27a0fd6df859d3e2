"""Where writer schemas come from: a Confluent schema registry, a directory, or one fixed schema.

Every source answers `get(schema_id)` with a parsed fastavro schema, cached per id, or raises
`UnknownSchemaError` (the alert goes to the dead-letter topic, the stream goes on).
Configuration mistakes (a directory that does not exist, an unparsable .avsc) are `UserError`s.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from broker_plugin.avro.names import Schema, load_file, parse
from broker_plugin.errors import UserError

#: Directory file names like lsst.v11_1.alert.avsc carry the LSST version.
_LSST_FILE = re.compile(r"^lsst\.v(\d+)_(\d+)\.alert\.avsc$")
#: Confluent's error code for an id the registry has no schema for (Apicurio and Karapace
#: answer it too). A 404 without it is a wrong URL, not a missing schema.
SCHEMA_NOT_FOUND = 40403


class SchemaSourceError(UserError):
    """A schema source configured wrongly (missing directory, unparsable schema file)."""


class UnknownSchemaError(LookupError):
    """No schema for this id (reason code `unknown_schema`)."""


class SchemaRegistryUnavailableError(RuntimeError):
    """The registry could not answer (down, slow, 5xx, 429, 401/403): an outage, not a bad
    alert. The consumer treats it like a broker outage: it rewinds the batch, commits
    nothing, answers /readyz 503 and retries; only a schema id the registry answers "not
    found" for is dead-lettered."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class SchemaSource(Protocol):
    """Anything that maps a schema id to a parsed Avro schema."""

    def get(self, schema_id: int | None) -> Schema:
        """The parsed writer schema with this id (None: the source's only schema)."""
        ...


def lsst_schema_id(major: int, minor: int) -> int:
    """The LSST convention for schema ids: major*100 + minor (11.1 → 1101)."""
    return int(major) * 100 + int(minor)


class FixedSchema:
    """One schema for every message: schemaless Avro (or to override a registry)."""

    def __init__(self, schema: Mapping[str, Any] | str, schema_id: int | None = None) -> None:
        self.schema = parse(schema)
        self.schema_id = schema_id

    def get(self, schema_id: int | None = None) -> Schema:
        """The fixed schema, whatever the id."""
        return self.schema


class DirectorySchemaSource:
    """`.avsc` files in a directory tree, by id.

    Ids come from, in order: a file named ``<id>.avsc``; an LSST alert schema
    ``lsst.vM_m.alert.avsc`` anywhere below (lsst-alert-packet's ``schema/M/m/`` layout or a
    flat folder), id M*100+m, its named types resolved from sibling ``<fullname>.avsc`` files.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise SchemaSourceError(
                f"schema directory {self.path} does not exist; pass a folder of .avsc files "
                "(--schema-dir) or a schema registry URL"
            )
        self._files: dict[int, Path] = {}
        for file in sorted(self.path.rglob("*.avsc")):
            match = _LSST_FILE.match(file.name)
            if match:
                major, minor = (int(part) for part in match.groups())
                self._files.setdefault(lsst_schema_id(major, minor), file)
            elif file.stem.isdigit():
                self._files[int(file.stem)] = file
        self._cache: dict[int, Schema] = {}
        self._lock = threading.Lock()

    @property
    def ids(self) -> list[int]:
        """The schema ids this directory provides."""
        return sorted(self._files)

    def get(self, schema_id: int | None) -> Schema:
        """The schema with this id; `UnknownSchemaError` if the directory has none."""
        if schema_id is None:
            if len(self._files) != 1:
                raise UnknownSchemaError(
                    f"message has no schema id and {self.path} holds {len(self._files)} schemas"
                )
            schema_id = next(iter(self._files))
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        file = self._files.get(schema_id)
        if file is None:
            raise UnknownSchemaError(
                f"schema id {schema_id} not in {self.path} (has {self.ids[:20]})"
            )
        try:
            schema = load_file(file)
        except Exception as exc:  # fastavro raises several types for bad files
            raise SchemaSourceError(
                f"{file}: not a valid Avro schema ({exc}); fix or remove the file"
            ) from exc
        with self._lock:
            self._cache[schema_id] = schema
        return schema


class RegistrySchemaSource:
    """A Confluent-compatible schema registry (``GET {url}/schemas/ids/{id}``), cached per id.

    A 404 with Confluent's "schema not found" code (40403) is `UnknownSchemaError` at once
    (the alert is dead-lettered). Anything else that keeps the registry from answering
    (connection errors, timeouts, 5xx, 429, 401/403, and a bare 404: a wrong URL path
    would otherwise dead-letter the whole stream) is
    retried `retries` times with exponential backoff, then raises
    `SchemaRegistryUnavailableError`; for `down_for_s` after that, look-ups of ids not in the
    cache fail at once, so a batch does not wait out the retries alert by alert. Schemas are
    cached by id for good (ids are immutable in a Confluent registry). Credentials may be
    given in the URL (``https://user:pass@host``) or as `auth`; they are never put in
    messages.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        down_for_s: float = 5.0,
        auth: tuple[str, str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise SchemaSourceError(
                f"schema registry URL {url!r} must start with http:// or https://"
            )
        self.url, self._auth_header = split_credentials(url.rstrip("/"), auth)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.down_for_s = down_for_s
        self._cache: dict[int, Schema] = {}
        self._lock = threading.Lock()
        self._down: tuple[float, str] | None = None  # (monotonic until, why)

    def get(self, schema_id: int | None) -> Schema:
        """The schema with this id, fetched once and cached."""
        if schema_id is None:
            raise UnknownSchemaError("message has no schema id; a registry needs one")
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        down = self._down
        if down is not None and time.monotonic() < down[0]:
            raise SchemaRegistryUnavailableError(down[1], self.url)
        try:
            text = self._fetch(schema_id)
        except SchemaRegistryUnavailableError as exc:
            self._down = (time.monotonic() + self.down_for_s, str(exc))
            raise
        self._down = None
        try:
            schema = parse(text)
        except Exception as exc:
            raise UnknownSchemaError(
                f"schema id {schema_id} from {self.url} is not a valid Avro schema: {exc}"
            ) from exc
        with self._lock:
            self._cache[schema_id] = schema
        return schema

    def _fetch(self, schema_id: int) -> str:
        request = urllib.request.Request(f"{self.url}/schemas/ids/{schema_id}")
        request.add_header("Accept", "application/vnd.schemaregistry.v1+json")
        if self._auth_header:
            request.add_header("Authorization", self._auth_header)
        last = ""
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    body = json.loads(response.read())
                return str(body["schema"])
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and _confluent_error_code(exc) == SCHEMA_NOT_FOUND:
                    raise UnknownSchemaError(
                        f"schema id {schema_id} not found in registry {self.url}"
                    ) from exc
                last = f"HTTP {exc.code}"
                if exc.code == 404:
                    last += (" without Confluent's 'schema not found' code: is the URL the "
                             "registry's Confluent-compatible API root (Apicurio: "
                             "http://HOST:PORT/apis/ccompat/v7)?")
                if exc.code in (401, 403):
                    last += " (check the registry credentials)"
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            except (ValueError, KeyError) as exc:
                raise UnknownSchemaError(
                    f"registry {self.url} sent no schema for id {schema_id}: {exc}"
                ) from exc
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        raise SchemaRegistryUnavailableError(
            f"schema registry {self.url} unreachable for schema id {schema_id} after "
            f"{self.retries + 1} attempts ({last})", self.url
        )


def _confluent_error_code(error: urllib.error.HTTPError) -> int | None:
    """The ``error_code`` of a Confluent-style error body, None when there is none."""
    try:
        body = json.loads(error.read(4096) or b"null")
    except (ValueError, OSError):
        return None
    code = body.get("error_code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def split_credentials(url: str, auth: tuple[str, str] | None = None) -> tuple[str, str | None]:
    """Strip user:pass@ from the URL (kept out of logs) into a Basic auth header."""
    import base64
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is not None:
        auth = auth or (parts.username, parts.password or "")
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    if auth is None:
        return url, None
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return url, f"Basic {token}"
