"""Everything the plugin knows about Avro itself, in one place (no survey knowledge here).

- `names.py`: parsing (`parse`, `load_file`), full names and named types (`fullname`,
  `schema_namespace`, `named_types`, `lookup`, `resolve`), how a type is encoded
  (`value_kind`, `fixed_size`).
- `fields.py`: the field-type walk: the type behind a field through nullable unions and
  arrays (`field_type`), the record of a field, its field names and full name.
- `binary.py`: zig-zag varints one at a time (`write_long`, `encode_long`, `read_long`),
  skipping a value of any type (`skip`).
- `vectorised.py`: the same encoding read at many positions of a buffer at once with numpy
  (`varint_values`, `varint_end`, `string_end`, `floats`, `strings`).
- `framing.py`: the Confluent wire format (`frame_confluent`, `split_confluent`,
  `MAGIC_BYTE`, `HEADER_SIZE`) and the Avro container magic.
- `schema_files.py`: our own `.avsc` files by name (`raw`, `load`, `schema_dir`).

Users: the decoders (`broker_plugin.decoding`), the encoders (`broker_plugin.alerts`) and the
output writer (`broker_plugin.serving.avro_writer`, `output`).
"""

from broker_plugin.avro.binary import encode_long, read_long, skip, write_bytes, write_long
from broker_plugin.avro.fields import (
    SchemaShapeError,
    field_type,
    non_null,
    record_fields,
    record_name,
    record_of,
)
from broker_plugin.avro.framing import (
    CONTAINER_MAGIC,
    HEADER_SIZE,
    MAGIC_BYTE,
    WireFormatError,
    confluent_header,
    frame_confluent,
    split_confluent,
)
from broker_plugin.avro.names import (
    PRIMITIVES,
    Schema,
    fixed_size,
    fullname,
    load_file,
    lookup,
    named_types,
    parse,
    resolve,
    schema_namespace,
    value_kind,
)

__all__ = [
    "CONTAINER_MAGIC",
    "HEADER_SIZE",
    "MAGIC_BYTE",
    "PRIMITIVES",
    "Schema",
    "SchemaShapeError",
    "WireFormatError",
    "confluent_header",
    "encode_long",
    "field_type",
    "fixed_size",
    "frame_confluent",
    "fullname",
    "load_file",
    "lookup",
    "named_types",
    "non_null",
    "parse",
    "read_long",
    "record_fields",
    "record_name",
    "record_of",
    "resolve",
    "schema_namespace",
    "skip",
    "split_confluent",
    "value_kind",
    "write_bytes",
    "write_long",
]
