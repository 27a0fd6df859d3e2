"""The field-type walk: the type behind a record's field, through nullable unions and arrays.

Alert schemas wrap what a decoder or encoder wants in ``["null", X]`` unions and arrays
(``prvDiaSources: ["null", {"type": "array", "items": "lsst.v11_1.diaSource"}]``), and name a
record where it is used a second time. These helpers unwrap both and resolve names (with the
`named_types` of the schema) so callers see the record itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from broker_plugin.avro.names import fullname, kind, resolve


class SchemaShapeError(ValueError):
    """A field whose type is not the kind the caller needs (e.g. not a record)."""


def non_null(union: Sequence[Any]) -> Any:
    """The first branch of a union that is not null."""
    return next(x for x in union if x != "null")


def branch_kinds(union: Sequence[Any]) -> list[Any]:
    """What each branch of a union is ('null', 'long', 'array', a type name, ...)."""
    return [kind(x) for x in union]


def field(schema: Mapping[str, Any], field_name: str) -> Mapping[str, Any]:
    """The field `field_name` of a record schema (KeyError if it has none)."""
    for f in schema["fields"]:
        if f["name"] == field_name:
            return f  # type: ignore[no-any-return]
    raise KeyError(field_name)


def field_type(
    schema: Mapping[str, Any], field_name: str, named: Mapping[str, Any] | None = None
) -> Any:
    """The type behind a top-level field, with the null branch of unions and arrays unwrapped.

    A type given by name is resolved through `named` when it is given (KeyError if unknown),
    else returned as the name. KeyError when the schema has no such field.
    """
    t = field(schema, field_name)["type"]
    while True:
        if isinstance(t, list):
            t = non_null(t)
        elif isinstance(t, str):
            if named is None:
                return t
            t = resolve(t, named)
            if isinstance(t, str):  # a primitive
                return t
        elif t.get("type") == "array":
            t = t["items"]
        else:
            return t


def record_of(
    schema: Mapping[str, Any], field_name: str, named: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The record type behind a top-level field (KeyError if the schema has no such field).

    `SchemaShapeError` when the field holds something else than (nullable, arrays of) records.
    """
    t = field_type(schema, field_name, named)
    if not (isinstance(t, Mapping) and t.get("type") in ("record", "error")):
        raise SchemaShapeError(f"{field_name}: expected a record type, got {str(t)[:80]}")
    return t


def record_fields(
    schema: Mapping[str, Any], field_name: str, named: Mapping[str, Any]
) -> list[str]:
    """Field names of the record type behind `field_name` ([] if the schema lacks the field)."""
    if all(f["name"] != field_name for f in schema["fields"]):
        return []
    return [x["name"] for x in record_of(schema, field_name, named)["fields"]]


def record_name(schema: Mapping[str, Any], field_name: str) -> str | None:
    """Full name of the type behind a top-level field (None if the schema lacks the field)."""
    try:
        t = field_type(schema, field_name)
    except KeyError:
        return None
    if isinstance(t, str):
        return t
    return fullname(str(t["name"]), t.get("namespace"))
