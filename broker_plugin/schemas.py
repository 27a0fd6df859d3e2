"""Our own Avro schemas by name: an alias of `broker_plugin.avro.schema_files`.

Kept so that ``from broker_plugin import schemas`` (serving's output schema, `produce`, tests)
goes on working; the lookup itself lives with the rest of the Avro code in `broker_plugin.avro`.
"""

from __future__ import annotations

from broker_plugin.avro.schema_files import (
    CLASSIFICATION,
    COMPACT_ALERT,
    ELASTICC,
    NAMES,
    ZTF_ALERT,
    SchemaFileMissingError,
    load,
    raw,
    schema_dir,
    schema_path,
)

__all__ = [
    "CLASSIFICATION",
    "COMPACT_ALERT",
    "ELASTICC",
    "NAMES",
    "ZTF_ALERT",
    "SchemaFileMissingError",
    "load",
    "raw",
    "schema_dir",
    "schema_path",
]
