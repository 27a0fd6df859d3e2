"""Schema sources and wire framing: registry (local HTTP server), directory, fixed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from broker_plugin.avro import schema_files as schemas
from broker_plugin.avro.framing import frame_confluent, split_confluent
from broker_plugin.decoding import (
    DirectorySchemaSource,
    RegistrySchemaSource,
    SchemaRegistryUnavailableError,
    SchemaSourceError,
    UnknownSchemaError,
)
from broker_plugin.decoding.wire import Framing, WireFormatError, framing_of
from devtools.schema_registry import StubSchemaRegistry

SCHEMA_TEXT = schemas.schema_path(schemas.COMPACT_ALERT).read_text()


@pytest.fixture()
def registry():
    with StubSchemaRegistry({7: SCHEMA_TEXT}) as stub:
        yield stub


def test_registry_fetches_once_per_id(registry):
    """A schema is fetched from the registry once and then served from the cache."""
    source = RegistrySchemaSource(registry.url)
    assert source.get(7)["name"].endswith("compact_alert")
    source.get(7)
    assert registry.calls == ["/schemas/ids/7"]


def test_registry_unknown_id_is_unknown_schema(registry):
    """A 404 is reported as an unknown schema at once, without retries."""
    with pytest.raises(UnknownSchemaError, match="not found"):
        RegistrySchemaSource(registry.url, retries=3).get(8)
    assert len(registry.calls) == 1


def test_registry_retries_transient_errors(registry):
    """5xx answers are retried with backoff until the schema comes."""
    registry.fail_next(2)
    source = RegistrySchemaSource(registry.url, retries=3, backoff_s=0.01)
    assert source.get(7)["type"] == "record"
    assert len(registry.calls) == 3


def test_registry_unreachable_is_an_outage_not_an_unknown_schema():
    """A registry nobody listens on fails after the bounded retries, naming the URL, as an
    outage (the consumer rewinds and waits) rather than an unknown schema (dead letter); for
    a while after that, look-ups fail at once instead of each waiting out the retries."""
    source = RegistrySchemaSource("http://127.0.0.1:9", retries=1, backoff_s=0.01,
                                  timeout_s=0.5, down_for_s=60)
    with pytest.raises(SchemaRegistryUnavailableError, match=r"unreachable.*2 attempts") as err:
        source.get(1)
    assert err.value.url == "http://127.0.0.1:9"
    assert not isinstance(err.value, UnknownSchemaError)
    started = time.monotonic()
    with pytest.raises(SchemaRegistryUnavailableError):
        source.get(2)
    assert time.monotonic() - started < 0.05


@pytest.mark.parametrize("status", [401, 403, 500, 503, 429])
def test_registry_errors_other_than_not_found_are_outages(registry, status):
    """Only 404 dead-letters an alert: refused credentials, 5xx and throttling are outages,
    and the schema is served once the registry answers again."""
    registry.fail_next(2, status)
    source = RegistrySchemaSource(registry.url, retries=0, down_for_s=0.0)
    for _ in range(2):
        with pytest.raises(SchemaRegistryUnavailableError, match=f"HTTP {status}"):
            source.get(7)
    assert source.get(7)["type"] == "record"


def test_registry_bare_404_is_an_outage_not_a_dead_letter(registry):
    """A 404 without Confluent's 40403 code is a wrong URL (a registry's web root, a proxy),
    not a missing schema: dead-lettering on it would empty the stream, so it is an outage
    whose message points at the Confluent-compatible API root."""
    registry.fail_next(1, 404)
    source = RegistrySchemaSource(registry.url, retries=0, down_for_s=0.0)
    with pytest.raises(SchemaRegistryUnavailableError, match="ccompat/v7"):
        source.get(7)
    assert source.get(7)["type"] == "record"


def test_registry_credentials_stay_out_of_url():
    """user:pass in the URL becomes an auth header, never part of the shown URL."""
    source = RegistrySchemaSource("https://alice:s3cret@registry.example:8081")
    assert "s3cret" not in source.url and source.url == "https://registry.example:8081"


def test_directory_numbered_files(tmp_path: Path):
    """<id>.avsc files are served by id; other ids are unknown."""
    (tmp_path / "12.avsc").write_text(SCHEMA_TEXT)
    source = DirectorySchemaSource(tmp_path)
    assert source.ids == [12]
    with pytest.raises(UnknownSchemaError):
        source.get(13)


def test_directory_lsst_layout_resolves_named_types():
    """lsst-alert-packet's tree gives ids major*100+minor with named types resolved."""
    packet = pytest.importorskip("lsst.alert.packet")
    source = DirectorySchemaSource(Path(packet.__file__).parent / "schema")
    assert {700, 800, 1101} <= set(source.ids)
    fields = [f["name"] for f in source.get(1101)["fields"]]
    assert fields[:4] == ["diaSourceId", "observation_reason", "target_name", "diaSource"]


def test_directory_missing_is_user_error(tmp_path: Path):
    """A schema directory that does not exist is a one-line configuration error."""
    with pytest.raises(SchemaSourceError, match="does not exist"):
        DirectorySchemaSource(tmp_path / "nope")


def test_confluent_frame_round_trip():
    """frame → split gives the id and body back; the header is 5 bytes big-endian."""
    payload = frame_confluent(1101, b"body")
    assert payload[:5] == b"\x00\x00\x00\x04\x4d"
    schema_id, body = split_confluent(payload)
    assert (schema_id, bytes(body)) == (1101, b"body")


def test_named_types_same_for_written_and_parsed_schemas():
    """broker_plugin.avro.names: full names from namespaces as written == fastavro's, and a
    record used twice resolves by name; skip() steps over a whole encoded record."""
    import io

    import fastavro

    from broker_plugin.avro import fields, names
    from broker_plugin.avro.binary import skip

    written = schemas.raw(schemas.ELASTICC)
    parsed = schemas.load(schemas.ELASTICC)
    assert set(names.named_types(written)) == set(names.named_types(parsed))
    assert "elasticc.v0_9_1.brokerClassification" in names.named_types(written)
    nested = {"type": "record", "name": "outer", "namespace": "a.b", "fields": [
        {"name": "first", "type": {"type": "record", "name": "inner", "fields": [
            {"name": "x", "type": "long"}, {"name": "e", "type": {
                "type": "enum", "name": "colour", "namespace": "c", "symbols": ["r", "g"]}}]}},
        {"name": "more", "type": ["null", {"type": "array", "items": "inner"}]},
        {"name": "m", "type": {"type": "map", "values": "c.colour"}}]}
    for schema in (nested, fastavro.parse_schema(nested)):
        named = names.named_types(schema)
        assert {"a.b.outer", "a.b.inner", "c.colour"} <= set(named)
        assert fields.record_fields(schema, "more", named) == ["x", "e"]
        assert fields.record_of(schema, "first", named) is named["a.b.inner"]
        assert names.value_kind("c.colour", named) == "enum"
    assert fields.record_name(fastavro.parse_schema(nested), "more") == "a.b.inner"
    record = {"first": {"x": -7, "e": "g"}, "more": [{"x": 2**40, "e": "r"}], "m": {"k": "g"}}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(nested), record)
    body = buf.getvalue() + b"tail"
    assert skip(nested, body, 0, names.named_types(nested)) == len(body) - 4


def test_framing_detection():
    """Containers, wire format and garbage are told apart; garbage has a reason code."""
    assert framing_of(b"Obj\x01...", schemaless_allowed=False) is Framing.CONTAINER
    assert framing_of(b"\x00\x00\x00\x00\x01x", schemaless_allowed=False) is Framing.CONFLUENT
    assert framing_of(b"\x02abc", schemaless_allowed=True) is Framing.SCHEMALESS
    with pytest.raises(WireFormatError) as info:
        framing_of(b"\x02abc", schemaless_allowed=False)
    assert info.value.reason == "bad_magic"
    with pytest.raises(WireFormatError) as info:
        framing_of(b"\x00\x01", schemaless_allowed=False)
    assert info.value.reason == "truncated"
