"""Avro schemas: parsing, full names and named types (the spec's "Names" section).

A named type (record, enum, fixed, error) is defined once, at its first use, and referred to
by name afterwards. A name without a dot is relative to the enclosing namespace: the one the
type declares, else the one of the named type it lies in. fastavro's parsed schemas (`parse`,
`load_file`) carry full names already, in definitions and in references alike; schemas as
written (our `.avsc` files, a registry's text) may use short names. `named_types` indexes
both kinds under full names, plus each short name for its first definition, and `resolve`
reads a reference as the spec does: ``namespace.name`` first, then the name as written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import fastavro
from fastavro.schema import load_schema

#: A parsed schema (fastavro's dict form).
Schema = dict[str, Any]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
#: Kinds of type that carry a name.
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
#: Encoded size of the fixed-size primitives (bytes).
FIXED_SIZES = {"float": 4, "double": 8, "boolean": 1, "null": 0}
#: Kinds encoded as one zig-zag varint, and kinds encoded as a varint length + that many bytes.
VARINT_KINDS = ("int", "long", "enum")
LENGTH_PREFIXED = ("string", "bytes")


def parse(schema: Mapping[str, Any] | str) -> Schema:
    """A fastavro-parsed schema from a dict or its JSON text."""
    if isinstance(schema, str):
        schema = cast(Mapping[str, Any], json.loads(schema))
    return cast(Schema, fastavro.parse_schema(dict(schema)))


def load_file(path: str | Path) -> Schema:
    """A parsed schema from an `.avsc` file; named types it references but does not define
    are read from sibling ``<fullname>.avsc`` files (lsst-alert-packet's layout)."""
    return cast(Schema, load_schema(str(path)))


def fullname(name: str, namespace: str | None) -> str:
    """The full name of `name` declared in (or referred to from) `namespace`."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


def namespace_of(full: str) -> str:
    """The namespace part of a full name ('' for none)."""
    return full.rpartition(".")[0]


def schema_namespace(schema: Mapping[str, Any]) -> str:
    """The namespace of a named type: declared, else the part of its name before the last dot."""
    return str(schema.get("namespace") or namespace_of(str(schema.get("name", ""))))


def kind(t: Any) -> Any:
    """What a type is, as written: a primitive or a type name, 'record', 'array', ... ."""
    return t if isinstance(t, str) else t.get("type") if isinstance(t, Mapping) else t


def named_types(schema: Any, namespace: str = "") -> dict[str, Mapping[str, Any]]:
    """Every named type defined in `schema`, by full name and by short name (first one wins)."""
    named: dict[str, Mapping[str, Any]] = {}

    def walk(t: Any, ns: str) -> None:
        if isinstance(t, list):
            for x in t:
                walk(x, ns)
        elif isinstance(t, Mapping):
            k = t.get("type")
            if k in NAMED_KINDS:
                name = str(t["name"])
                full = fullname(name, t.get("namespace", ns))
                named[full] = t
                named.setdefault(name.rpartition(".")[2], t)
                for f in t.get("fields", ()):
                    walk(f["type"], namespace_of(full))
            elif k == "array":
                walk(t["items"], ns)
            elif k == "map":
                walk(t["values"], ns)
            elif isinstance(k, list | Mapping):  # {"type": {...}}: a type wrapped once more
                walk(k, ns)

    walk(schema, namespace)
    return named


def lookup(
    t: str, named: Mapping[str, Mapping[str, Any]], namespace: str = ""
) -> tuple[str, Mapping[str, Any]] | None:
    """(the name it was found under, definition) of a type reference, None if not named."""
    for name in (fullname(t, namespace), t):
        found = named.get(name)
        if found is not None:
            return name, found
    return None


def resolve(t: Any, named: Mapping[str, Mapping[str, Any]], namespace: str = "") -> Any:
    """The definition behind a named-type reference (KeyError if unknown); other types as is."""
    if not isinstance(t, str) or t in PRIMITIVES:
        return t
    found = lookup(t, named, namespace)
    if found is None:
        raise KeyError(t)
    return found[1]


def value_kind(t: Any, named: Mapping[str, Mapping[str, Any]]) -> str | None:
    """How a non-union type is encoded: a primitive's name, 'enum' (a varint) or 'fixed:N'
    (N bytes); None for records, arrays, maps, unions and unknown names."""
    if isinstance(t, str):
        if t in PRIMITIVES:
            return t
        found = lookup(t, named)
        return None if found is None else value_kind(found[1], named)
    if isinstance(t, Mapping):
        k = t.get("type")
        if k == "enum":
            return "enum"
        if k == "fixed":
            return f"fixed:{t['size']}"
        if isinstance(k, str) and k in PRIMITIVES:
            return k
    return None


def fixed_size(value_kind: str) -> int | None:
    """Bytes of a value of a fixed-size kind (`value_kind`'s answer), None for varints and
    length-prefixed kinds."""
    if value_kind in FIXED_SIZES:
        return FIXED_SIZES[value_kind]
    if value_kind.startswith("fixed:"):
        return int(value_kind[6:])
    return None


def zero_byte_array(schema: Any) -> str | None:
    """Where `schema` has an array whose items encode in 0 bytes (its field path), else None.

    The data cannot bound such an array: a block count of 2^62 costs a writer ten bytes and
    a reader memory until it runs out. Only a schema that travels with the message (an Avro
    container's) can be one a stranger chose; the decoder refuses those (bench/fuzz.py found
    a ZTF container whose prv_candidate record had lost its fields: 4 GB from 25 kB).
    """
    named = named_types(schema)

    def empty(t: Any, seen: frozenset[str]) -> bool:
        if isinstance(t, str):
            found = None if t in PRIMITIVES else lookup(t, named)
            if found is None:
                return t == "null"
            return found[0] not in seen and empty(found[1], seen | {found[0]})
        if isinstance(t, Mapping):
            k = t.get("type")
            if k in ("record", "error"):
                return all(empty(f.get("type"), seen) for f in t.get("fields", ())
                           if isinstance(f, Mapping))
            if k == "fixed":
                return t.get("size") == 0
            if isinstance(k, str) and k in PRIMITIVES:
                return k == "null"
            if isinstance(k, list | Mapping):
                return empty(k, seen)
        return False  # unions, arrays, maps and enums write at least one byte

    def walk(t: Any, path: str, seen: frozenset[str]) -> str | None:
        if isinstance(t, list):
            return next((p for x in t if (p := walk(x, path, seen)) is not None), None)
        if isinstance(t, str):
            found = None if t in PRIMITIVES else lookup(t, named)
            if found is None or found[0] in seen:
                return None
            return walk(found[1], path, seen | {found[0]})
        if not isinstance(t, Mapping):
            return None
        k = t.get("type")
        if k == "array":
            if empty(t.get("items"), frozenset()):
                return path or "(the schema itself)"
            return walk(t.get("items"), f"{path}[]", seen)
        if k == "map":
            return walk(t.get("values"), f"{path}{{}}", seen)
        if k in ("record", "error"):
            full = fullname(str(t.get("name", "")), t.get("namespace"))
            for f in t.get("fields", ()):
                if isinstance(f, Mapping):
                    name = str(f.get("name"))
                    hit = walk(f.get("type"), f"{path}.{name}" if path else name,
                               seen | {full})
                    if hit is not None:
                        return hit
            return None
        if isinstance(k, list | Mapping):
            return walk(k, path, seen)
        return None

    return walk(schema, "", frozenset())
