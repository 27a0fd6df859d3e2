"""Pool the shared real sets into one labelled light-curve directory for `training experiment`.

    python bench/make_real_pool.py --sets SETS --out POOL [--cap 120] [--seed 7]

SETS is the output of `training import shared ../shared/data SETS`. The issue-16 question
("does two-losses beat one-loss on real data?") needs the paper's induced-bias splits of
real curves, and `training experiment` splits one directory. This writes POOL/manifest.csv
whose paths point into SETS (no copies): OGLE-III Cepheids (I), EROS-1 (B_E), SDSS Stripe 82
RR Lyrae (g) and Catalina (V), one band per object, at most `--cap` objects per survey and
class (a seeded draw). The two-losses generator fits only on curves with a period, and the
Catalina curves carry none, so every curve without a catalogue period gets a Lomb–Scargle
period (offline, `training.cadence_transfer.search_period`, remembered in the period cache).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import polars as pl

#: Survey folder (as `training import shared` names it) -> the one band kept per object.
BANDS = {"ogle3_cep": "I", "eros1": "B_E", "sdss_rrlyr": "g", "crts": "V"}
COLUMNS = ("path", "object_id", "label", "band", "survey", "period")


def pooled_manifest(sets: Path, out: Path, cap: int, seed: int) -> pl.DataFrame:
    frames = []
    for name, band in BANDS.items():
        manifest = pl.read_csv(sets / name / "manifest.csv", infer_schema_length=0)
        labelled = manifest.filter(pl.col("label").is_not_null() & (pl.col("label") != "")
                                   & (pl.col("band") == band))
        drawn = [labelled.filter(pl.col("label") == label)
                 .sample(fraction=1.0, shuffle=True, seed=seed).head(cap)
                 for label in sorted(labelled["label"].unique().to_list())]
        part = pl.concat(drawn)
        relative = os.path.relpath(sets / name, out)
        part = part.with_columns((pl.lit(relative + "/") + pl.col("path")).alias("path"))
        if "period" not in part.columns:
            part = part.with_columns(pl.lit(None, dtype=pl.Utf8).alias("period"))
        frames.append(part.select(COLUMNS))
    return pl.concat(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=Path, required=True,
                        help="folder written by `training import shared`")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cap", type=int, default=120, help="objects per survey and class")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from broker_plugin.lightcurve_dir import read_lightcurve_dir
    from training.cadence_transfer import search_period
    from training.period_cache import cached_periods

    args.out.mkdir(parents=True, exist_ok=True)
    manifest = pooled_manifest(args.sets, args.out, args.cap, args.seed)
    manifest.write_csv(args.out / "manifest.csv")
    curves = read_lightcurve_dir(args.out)
    missing = [i for i, curve in enumerate(curves) if not curve.params.get("period")]
    print(f"{len(curves)} curves; searching periods for {len(missing)} without one")
    found = cached_periods([curves[i] for i in missing], search_period)
    periods = manifest["period"].to_list()
    for i, period in zip(missing, found, strict=True):
        periods[i] = str(float(period))
    manifest = manifest.with_columns(pl.Series("period", periods))
    manifest.write_csv(args.out / "manifest.csv")
    print(manifest.group_by("survey", "label").len().sort("survey", "label"))


if __name__ == "__main__":
    main()
