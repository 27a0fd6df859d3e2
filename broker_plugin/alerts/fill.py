"""Valid placeholder values for any Avro type: the fields an encoder does not set itself.

Works on fastavro-parsed schemas (named types defined once, then referenced by full name).
Required fields get a zero of their type; with ``optional=True`` nullable primitives get a
value too, so generated alerts have the size of real ones (real packets fill most fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker_plugin.avro.fields import non_null
from broker_plugin.avro.names import named_types

_ZERO = {
    "null": None, "boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0,
    "string": "", "bytes": b"",
}
#: Records left null even with optional=True: other products than a light curve needs.
SKIP_RECORDS = frozenset({"ssObject", "ssSource", "MPCORB", "mpc_orbits"})


class Filler:
    """Builds placeholder values; `named` holds the schema's named types (`named_types`)."""

    def __init__(self, schema: Mapping[str, Any], optional: bool = False) -> None:
        self.optional = optional
        self.named: dict[str, Mapping[str, Any]] = named_types(schema)

    def record(self, type_name: str) -> dict[str, Any]:
        """Placeholder dict for the named record type `type_name` (short or full name)."""
        record: dict[str, Any] = self.value(self.named[type_name])
        return record

    def value(self, t: Any) -> Any:
        """A valid value of Avro type `t`."""
        if isinstance(t, str):
            if t in _ZERO:
                return _ZERO[t]
            return self.value(self.named[t])
        if isinstance(t, list):
            if "null" in t and not (self.optional and self._fillable(t)):
                return None
            return self.value(non_null(t))
        kind = t["type"]
        if kind in ("record", "error"):
            return {f["name"]: self.field_value(f) for f in t["fields"]}
        if kind == "array":
            return []
        if kind == "map":
            return {}
        if kind == "enum":
            return t["symbols"][0]
        if kind == "fixed":
            return b"\0" * t["size"]
        return self.value(kind)

    def field_value(self, f: Mapping[str, Any]) -> Any:
        t = f["type"]
        if isinstance(t, list) and "null" in t and not self.optional:
            return None
        return self.value(t)

    def _fillable(self, union: list[Any]) -> bool:
        """Optional filling covers primitives only (not cutouts, not nested products)."""
        other = [x for x in union if x != "null"]
        return len(other) == 1 and isinstance(other[0], str) and other[0] in _ZERO and (
            other[0] != "bytes"
        )
