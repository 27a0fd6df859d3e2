"""Realism of the simulator, measured: train on simulated OGLE-like curves, test on real ones.

A random forest on survey-agnostic features (Lomb-Scargle period, Fourier amplitude
ratios, amplitude and moments, a coarse structure function) is trained only on simulated
OGLE-like curves and scored on the real shared sets:
- OGLE-III LMC classical Cepheids (I band; ../shared/data/ogle3_lmc_cep/phot_I.tar.gz);
- SDSS Stripe 82 RR Lyrae (i band, the closest to I; sdss_s82_rrlyr);
- EROS-1 LMC (R_E band; eros1_lmc_train: RRLYR, CEP, ECL, LPV).
The gap between the cross-validated accuracy on simulations and the accuracy on real data
says how far the simulator is from reality (plus the unavoidable cadence and band shift).

Training curves are OGLE-like simulations plus (by default) a copy of each thinned to
40-150 random points with extra noise and outliers (`thin`), so that the forest has seen
the period aliases of sparse surveys and noisier photometry; `--no-augment` turns it off.

Usage: python bench/realism_check.py [--n-per-class 200] [--max-per-set 400] [--seed 0]
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from broker_plugin.lightcurve import CLASSES, LightCurve
from training.simulator import simulate_curves
from training.simulator.curve_features import curve_features
from training.simulator.periodogram import fourier_fit, lomb_scargle_power

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TAU_EDGES = np.array([0.0, 0.1, 1.0, 10.0, 100.0, np.inf])
FEATURES = ("log_period", "R21", "R31", "ls_power", "amplitude", "skew", "kurtosis",
            "beyond_1std", "mad_over_std", *(f"sf_{i}" for i in range(TAU_EDGES.size - 1)))


def period_features(curve: LightCurve) -> list[float]:
    """Lomb-Scargle period (0.2-1,500 d), its normalised power, and R21, R31 at it.

    The search stops at 0.2 d to keep the benchmark to minutes on 2 shared cores: the real
    sets hold no delta Scuti stars, and simulated ones get aliased periods (the forest
    still separates them by the other features).
    """
    t, m = curve.time, curve.mag
    ok = np.isfinite(t) & np.isfinite(m)
    t, m = t[ok], m[ok]
    if t.size > 120:
        keep = np.linspace(0, t.size - 1, 120).astype(np.int64)
        t, m = t[keep], m[keep]
    y = m - m.mean()
    baseline = max(np.ptp(t), 1.0)
    step = 1.0 / baseline  # one sample per resolution element, then refine the top peaks
    freqs = np.arange(1.0 / 1500.0, 5.0, step)
    power = lomb_scargle_power(t, y, freqs, single=True)
    best_power, period = -1.0, 1.0
    for i in np.argsort(power)[-3:]:
        fine = np.linspace(freqs[i] - step, freqs[i] + step, 21)
        fine = fine[fine > 0]
        fp = lomb_scargle_power(t, y, fine)
        if fp.max() > best_power:
            best_power, period = float(fp.max()), float(1.0 / fine[np.argmax(fp)])
    amp, _ = fourier_fit(curve.time[ok], curve.mag[ok], period, harmonics=3)
    norm = best_power / max(np.sum(y**2) / 2.0, 1e-12)
    return [np.log10(period), amp[1] / amp[0], amp[2] / amp[0], norm]


def structure_function(curve: LightCurve, amplitude: float) -> list[float]:
    """Median |dm| / amplitude for pairs up to 10 apart, in lag bins (NaN -> -1)."""
    c = curve.sorted()
    t, m = c.time, c.mag
    dts, dms = [], []
    for lag in range(1, 11):
        dts.append(t[lag:] - t[:-lag])
        dms.append(np.abs(m[lag:] - m[:-lag]))
    dt, dm = np.concatenate(dts), np.concatenate(dms)
    which = np.digitize(dt, TAU_EDGES) - 1
    out = []
    for b in range(TAU_EDGES.size - 1):
        sel = dm[which == b]
        out.append(float(np.median(sel)) / max(amplitude, 1e-6) if sel.size >= 3 else -1.0)
    return out


def features(curves: list[LightCurve], label: str) -> np.ndarray:
    """(N, len(FEATURES)) feature matrix, with a progress line on stderr."""
    base = curve_features(curves)
    names = ("log_n_points", "log_baseline", "log_median_dt", "amplitude", "std", "mad", "skew",
             "kurtosis", "beyond_1std", "von_neumann", "log_p2p_ratio")
    col = {n: i for i, n in enumerate(names)}
    rows = []
    for i, c in enumerate(curves):
        b = base[i]
        amplitude = b[col["amplitude"]]
        rows.append([*period_features(c), amplitude, b[col["skew"]], b[col["kurtosis"]],
                     b[col["beyond_1std"]], b[col["mad"]] / max(b[col["std"]], 1e-9),
                     *structure_function(c, amplitude)])
        if i % 200 == 0:
            print(f"  features {label}: {i}/{len(curves)}", file=sys.stderr, flush=True)
    return np.nan_to_num(np.array(rows, dtype=float), nan=-1.0, posinf=-1.0, neginf=-1.0)


def thin(curve: LightCurve, rng: np.random.Generator) -> LightCurve:
    """A sparser, noisier copy: 40-150 random points, extra noise 0.01-0.3 mag, 2 % outliers.

    Sparse real surveys alias periods and older ones (EROS-1 photographic) are far noisier
    than OGLE, so the forest must have seen both.
    """
    keep = np.sort(rng.choice(len(curve), size=min(len(curve), int(rng.integers(40, 151))),
                              replace=False))
    extra = np.exp(rng.uniform(np.log(0.01), np.log(0.3)))
    mag = curve.mag[keep] + rng.normal(0.0, extra, keep.size)
    outlier = rng.random(keep.size) < 0.02
    mag[outlier] += rng.normal(0.0, 1.0, int(outlier.sum()))
    err = np.hypot(curve.err[keep], extra)
    return curve.with_(time=curve.time[keep], mag=mag, err=err)


def read_ogle_cepheids(limit: int, rng: np.random.Generator) -> list[LightCurve]:
    """OGLE-III LMC Cepheid I-band curves straight from the tar (HJD-2450000, I, err)."""
    curves = []
    path = SHARED / "ogle3_lmc_cep" / "phot_I.tar.gz"
    with tarfile.open(path) as tar:
        names = [m.name for m in tar.getmembers() if m.name.endswith(".dat")]
    chosen = {names[k] for k in rng.choice(len(names), size=min(limit, len(names)),
                                           replace=False)}
    with tarfile.open(path, mode="r|gz") as tar:  # one sequential pass: gzip cannot seek
        for member in tar:
            if member.name not in chosen:
                continue
            data = np.loadtxt(io.BytesIO(tar.extractfile(member).read()), ndmin=2)
            if data.shape[0] >= 20:
                curves.append(LightCurve(Path(member.name).stem, data[:, 0], data[:, 1],
                                         data[:, 2], band="I", label="CEP"))
    return curves


def read_sdss_rrlyrae(band: str) -> list[LightCurve]:
    """SDSS Stripe 82 RR Lyrae in one band (CSV per star: time,mag,magerr,band)."""
    curves = []
    with tarfile.open(SHARED / "sdss_s82_rrlyr" / "light-curves.tar.gz") as tar:
        for member in tar.getmembers():
            if not member.name.endswith(".csv"):
                continue
            frame = pl.read_csv(tar.extractfile(member).read())
            frame = frame.filter((pl.col("band") == band) & (pl.col("mag") < 30)
                                 & (pl.col("magerr") > 0))
            if frame.height >= 10:
                curves.append(LightCurve(Path(member.name).stem, frame["time"].to_numpy(),
                                         frame["mag"].to_numpy(), frame["magerr"].to_numpy(),
                                         band=band, label="RRLYR"))
    return curves


def read_eros(per_class: int, rng: np.random.Generator) -> list[LightCurve]:
    """EROS-1 LMC R_E curves, at most `per_class` per class."""
    names = {1: "ECL", 2: "CEP", 3: "RRLYR", 4: "LPV"}
    meta = pl.read_csv(SHARED / "eros1_lmc_train" / "train.csv")
    meta = meta.rename({meta.columns[0]: "id"})
    with gzip.open(SHARED / "eros1_lmc_train" / "train_varlength_features.csv.gz") as fh:
        lc = pl.read_csv(fh.read())
    lc = lc.select(lc.columns[0], "time_points_r", "light_points_r", "error_points_r")
    lc.columns = ["id", "t", "m", "e"]
    table = meta.select("id", "type").join(lc, on="id")
    curves = []
    for code, label in names.items():
        rows = table.filter(pl.col("type") == code)
        for k in rng.choice(rows.height, size=min(per_class, rows.height), replace=False):
            row = rows.row(int(k), named=True)
            t, m, e = (np.array(ast.literal_eval(row[c]), float) for c in ("t", "m", "e"))
            ok = np.isfinite(t) & np.isfinite(m) & (m > 0) & (m < 30)
            if ok.sum() >= 20:
                curves.append(LightCurve(row["id"], t[ok], m[ok], e[ok], band="R_E", label=label))
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, default=200)
    parser.add_argument("--max-per-set", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="train on full OGLE-like curves only (no thinned copies)")
    args = parser.parse_args()
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    sim = simulate_curves(args.n_per_class, "ogle", seed=args.seed)
    if args.augment:
        sim = sim + [thin(c, rng) for c in sim]
    x_sim = features(sim, "simulated")
    y_sim = np.array([c.label for c in sim])
    forest = RandomForestClassifier(n_estimators=300, min_samples_leaf=2, n_jobs=1,
                                    random_state=args.seed, class_weight="balanced")
    cv = cross_val_score(forest, x_sim, y_sim, cv=3)
    forest.fit(x_sim, y_sim)
    print(f"simulated OGLE-like, 3-fold CV accuracy: {cv.mean():.3f} "
          f"({len(sim)} curves, {args.n_per_class} stars per class"
          f"{', plus a thinned noisier copy of each' if args.augment else ''})")
    sets = {
        "OGLE-III LMC Cepheids (I)": read_ogle_cepheids(args.max_per_set, rng),
        "SDSS S82 RR Lyrae (i)": read_sdss_rrlyrae("i"),
        "EROS-1 LMC (R_E)": read_eros(args.max_per_set // 4 + 50, rng),  # per class
    }
    for name, curves in sets.items():
        x = features(curves, name)
        truth = np.array([c.label for c in curves])
        pred = forest.predict(x)
        acc = float(np.mean(pred == truth))
        labels = [c for c in CLASSES if c in set(truth) | set(pred)]
        print(f"\n{name}: {len(curves)} curves, accuracy {acc:.3f}")
        recalls = {c: float(np.mean(pred[truth == c] == c)) for c in sorted(set(truth))}
        print("  recall per true class: " + ", ".join(f"{c} {r:.3f}" for c, r in recalls.items()))
        if len(recalls) > 1:
            print(f"  balanced accuracy: {np.mean(list(recalls.values())):.3f}")
        matrix = confusion_matrix(truth, pred, labels=labels)
        print("  confusion (rows true, cols predicted " + " ".join(labels) + "):")
        for lab, row in zip(labels, matrix, strict=True):
            if row.sum():
                print(f"    {lab:6s}" + " ".join(f"{v:5d}" for v in row))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
