"""Carry an alert record over to another version of its schema (e.g. LSST 10.0 → 11.1).

Every field the target schema shares with the record keeps its value, recursively through
nested records, arrays and maps; fields new in the target get a valid placeholder (null
where nullable, see `fill.Filler`); fields the target dropped are left behind. Used to test
and benchmark real 10.0 alerts as Rubin's production 11.x stream would carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker_plugin.alerts.fill import Filler


class RecordConverter:
    """`converter(record)` → the record as a valid value of the target (parsed) schema."""

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = target
        self.filler = Filler(target)

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        converted: dict[str, Any] = self._adapt(record, self.target)
        return converted

    def _adapt(self, value: Any, t: Any) -> Any:
        """`value` (read with the old schema) as a valid value of type `t` of the new one."""
        if isinstance(t, list):  # union: null stays null, anything else takes a non-null branch
            if value is None:
                return None
            branches = [b for b in t if b != "null"]
            return self._adapt(value, branches[0]) if len(branches) == 1 else value
        if isinstance(t, str):
            named = self.filler.named.get(t)
            return value if named is None else self._adapt(value, named)
        if isinstance(t, Mapping):
            kind = t.get("type")
            if kind == "record":
                return {f["name"]: (self._adapt(value[f["name"]], f["type"])
                                    if f["name"] in value else self.filler.field_value(f))
                        for f in t["fields"]}
            if kind == "array":
                return [self._adapt(v, t["items"]) for v in value]
            if kind == "map":
                return {k: self._adapt(v, t["values"]) for k, v in value.items()}
            if isinstance(kind, str | list | Mapping) and kind not in ("enum", "fixed"):
                return self._adapt(value, kind)
        return value
