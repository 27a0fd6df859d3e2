"""The plugin's registry client against a real Confluent-compatible registry (Apicurio).

Needs Java and Maven (Apicurio's distribution is fetched from Maven Central once, like
Kafka's jars); skipped with the reason where either is missing.
"""

from __future__ import annotations

import shutil

import pytest

from broker_plugin.avro import schema_files as schemas
from broker_plugin.decoding import (
    RegistrySchemaSource,
    SchemaRegistryUnavailableError,
    UnknownSchemaError,
)

pytestmark = pytest.mark.skipif(
    not (shutil.which("java") and shutil.which("mvn")),
    reason="Apicurio Registry needs java and mvn on PATH",
)

SCHEMA_TEXT = schemas.schema_path(schemas.COMPACT_ALERT).read_text()


@pytest.fixture(scope="module")
def apicurio(tmp_path_factory: pytest.TempPathFactory):
    from devtools.apicurio import ApicurioRegistry

    with ApicurioRegistry(tmp_path_factory.mktemp("apicurio")) as registry:
        yield registry


def test_lookup_not_found_and_outage_against_apicurio(apicurio):
    """A registered id is served (and cached), an unknown id is `not found` (dead letter),
    the registry's web root is an outage (not a dead letter), a stopped registry is an
    outage, and after a restart on the same storage the ids still resolve."""
    schema_id = apicurio.register("compact-value", SCHEMA_TEXT)
    source = RegistrySchemaSource(apicurio.url, retries=0, down_for_s=0.0)
    assert source.get(schema_id)["name"].endswith("compact_alert")
    with pytest.raises(UnknownSchemaError, match="not found"):
        source.get(schema_id + 1000)
    web_root = apicurio.url.removesuffix("/apis/ccompat/v7")
    with pytest.raises(SchemaRegistryUnavailableError, match="ccompat/v7"):
        RegistrySchemaSource(web_root, retries=0).get(schema_id)

    fresh = RegistrySchemaSource(apicurio.url, retries=0, down_for_s=0.0, timeout_s=2)
    apicurio.stop()
    try:
        assert source.get(schema_id)["name"].endswith("compact_alert")  # cached for good
        with pytest.raises(SchemaRegistryUnavailableError, match="unreachable"):
            fresh.get(schema_id)
    finally:
        apicurio.start()
    assert fresh.get(schema_id)["name"].endswith("compact_alert")


def test_apicurio_state_survives_restart(apicurio):
    """Ids are stable across a restart (H2 in a file): the outage scenario depends on it."""
    first = apicurio.register("a-value", '{"type": "string"}')
    apicurio.stop()
    apicurio.start()
    assert apicurio.register("a-value", '{"type": "string"}') == first
