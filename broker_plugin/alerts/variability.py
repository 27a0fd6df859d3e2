"""Record-to-record variety of real Rubin alerts, for `LsstAlertEncoder(realistic=True)`.

Why: Avro's binary layout depends on values. A long takes 1–10 bytes (zigzag varint), a
nullable field 1 byte when null and 1 + its size otherwise. Real alerts change these from
one diaSource to the next: ids span the whole 63-bit range (9 or 10 bytes), the detector
(0–188) changes per visit (1 or 2 bytes), counts such as psfNdata, trailNdata or bboxSize
vary, and which measurements are null (failed trail or dipole fits, missing shape moments)
varies per record. A decoder benchmarked only on identical layouts measures a friendly case;
this module makes the unfriendly one.

The friendly mode (the default encoder) keeps every layout the same: ids in [2**57, 2**58),
one detector below 64 per object, every nullable scalar filled with a zero.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: Number of Rubin LSSTCam science detectors (ids 0..188).
N_DETECTORS = 189
#: Probability that a nullable measurement the light curve does not need is null.
P_NULL = 0.2
#: Probabilities of the rare events a decoder must still get right.
P_NULL_FLUX = 0.01  # scienceFlux missing (failed forced measurement)
P_WITHDRAWN = 0.005  # timeWithdrawnMjdTai set: the row was retracted
_STRINGS = ("", "v1", "2025.44", "reliability-model-2026.03a")


def full_range_id(*parts: object) -> int:
    """A non-negative 63-bit id in [0, 2**63) derived from `parts` (varint: 1–10 bytes)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded from `parts`: the same alert is encoded the same way every time."""
    return np.random.default_rng(full_range_id("rng", *parts))


def visit_id(mjd: float, seq: int) -> int:
    """A Rubin-style visit id: day of observation (YYYYMMDD-like integer) then a sequence."""
    day = int(mjd) - 40587  # days since 1970-01-01
    return (20_000_000 + day) * 100_000 + seq % 100_000


class RecordVariety:
    """Randomises the fields of one record type that the encoder does not set itself.

    Args:
        record: the Avro record schema (fields with primitive or [null, primitive] types).
        keep: field names the encoder sets deliberately (ids, time, band, fluxes): untouched.
    """

    def __init__(self, record: Mapping[str, Any], keep: Iterable[str]) -> None:
        keep = set(keep)
        self.counts: list[str] = []  # required int / long: count-like values
        self.nullable: list[tuple[str, str]] = []  # (name, primitive) of [null, primitive]
        for f in record["fields"]:
            name, t = f["name"], f["type"]
            if name in keep:
                continue
            if t in ("int", "long"):
                self.counts.append(name)
            elif isinstance(t, list) and len(t) == 2 and "null" in t:
                other = t[1] if t[0] == "null" else t[0]
                if other in ("int", "long", "float", "double", "boolean", "string"):
                    self.nullable.append((name, other))

    def apply(self, record: dict[str, Any], rng: np.random.Generator) -> None:
        """Give `record` fresh count values and a fresh null pattern, in place."""
        counts = _count_like(rng, len(self.counts))
        for name, value in zip(self.counts, counts, strict=True):
            record[name] = value
        n = len(self.nullable)
        null = rng.random(n) < P_NULL
        reals = rng.normal(0.0, 100.0, n)
        ints = _count_like(rng, n)
        flags = rng.random(n) < 0.1
        picks = rng.integers(0, len(_STRINGS), n)
        for i, (name, kind) in enumerate(self.nullable):
            if null[i]:
                record[name] = None
            elif kind in ("float", "double"):
                record[name] = float(np.float32(reals[i])) if kind == "float" else float(reals[i])
            elif kind in ("int", "long"):
                record[name] = ints[i]
            elif kind == "boolean":
                record[name] = bool(flags[i])
            else:
                record[name] = _STRINGS[picks[i]]


def _count_like(rng: np.random.Generator, n: int) -> list[int]:
    """Counts from 0 to a few thousand, log-uniform: varints of 1 or 2 bytes."""
    return [int(x) for x in np.floor(np.exp(rng.uniform(0.0, 8.0, n))) - 1]
