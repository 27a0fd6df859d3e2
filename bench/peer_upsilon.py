"""Peer benchmark: score UPSILoN (Kim & Bailer-Jones 2016) on our light-curve directories.

    python bench/peer_upsilon.py --selection SEL.csv --out PREDS.csv [--truncate 0,100,40,20]
    python bench/peer_upsilon.py --data DIR [--data DIR ...] [--max-per-class N] [--seed 0]
        [--split-bands] --out PREDS.csv [--truncate 0,40] [--jobs 1] [--resume] [--json S.json]
    python bench/peer_upsilon.py --setup-only      # build the cached venv, print its path

UPSILoN 1.2.10 (PyPI `upsilon`, MIT licence; Kim, D.-W. & Bailer-Jones, C. A. L. 2016, A&A
587, A18) is a random forest (100 trees, 16 period-based features: Lomb-Scargle period,
Fourier amplitude ratios and phases, phase-folded η and CUSUM, quantiles, Stetson K, ...)
trained on OGLE and EROS-2 periodic variables. It ships its model inside the package
(`upsilon/datasets/models/rf.model.sub.github.gz`, about 43 MB gzipped, about 1.7 GB
resident once loaded) and needs old libraries, so this script builds and caches its own
virtualenv, `${SELFREG_CACHE:-~/.cache/selfreg-varstars}/venv-upsilon-<hash of SPEC>`
(marked complete by `.complete`, built with `$PYTHON` or python3.11 like scripts/dev-env),
then re-executes itself inside it (`os.execve`, hidden `--worker` flag). The worker
imports nothing from this project (its numpy differs): it reads `DIR/manifest.csv` and the
curves itself. The venv build is the only download; scoring runs offline.

Pins: upsilon==1.2.10, scikit-learn==1.2.2, numpy<2, scipy<1.12 (all with Python 3.11
wheels but upsilon, a pure-Python sdist). The model was pickled with scikit-learn 0.24.1,
which has no Python 3.11 wheel; checked once against it (Python 3.9, numpy 1.20, scipy 1.6):
the package's own test curve gets CEPH_1O, probability 0.96, in both environments (the
upstream README's 0.91 predates the current model file), and 60 rows of real curves (OGLE,
SDSS, EROS-1; full and 40 points) got the same class, probability and flag. The unpickling
version warning is silenced. Caveat for reading results: UPSILoN's training set was built
from OGLE and EROS-2 LMC variables, so OGLE-III LMC Cepheids are probably among its
training stars (in-sample for it); EROS-1 and SDSS are not its surveys.

Input, one of:
- `--selection FILE.csv`, columns `set,dir,path,object_id,band,label`: exactly these curves
  (`dir` a light-curve directory, relative paths from the current directory; `path`
  relative to `dir`), as the leave-one-survey-out bench asks for its test curves;
- `--data DIR` (repeatable): a seeded sample of at most `--max-per-class` curves per
  (directory, label) (0 = all), set name = the directory's name; with `--split-bands` per
  (directory, band, label), set name `NAME (BAND)`.
Rows whose label is not one of CEP, DSCT, ECL, LPV, RRLYR are skipped (counted on stderr).

Per curve and truncation (`--truncate`, 0 = every point): `first_points` (below: drop rows
with a non-finite time, mag or err, sort by time, keep the first n; the leave-one-survey-out
bench uses the same rule), then UPSILoN's own recommended recipe: `sigma_clipping(threshold
3, one iteration)`, `ExtractFeatures(date, mag, err).run()`, `predict(rf_model, features)`
→ (class, probability, flag; flag 1 = period SNR < 20 or a known alias period). UPSILoN
recommends 80 points or more and only warns below; a curve it cannot handle (fewer than
7 points for its 3rd-order Fourier fit, NaN features, unreadable file, ...) gets
`upsilon_class = error:<reason>` and `predicted = OTHER`, never a crash.

Class map (read from the installed model's `classes_`, 19 classes):

    CEPH_F, CEPH_1O, CEPH_Other (classical Cepheids)         -> CEP
    DSCT                                                     -> DSCT
    EB_EC, EB_ED, EB_ESD                                     -> ECL
    LPV_Mira_AGB_C, LPV_Mira_AGB_O, LPV_OSARG_AGB,
    LPV_OSARG_RGB, LPV_SRV_AGB_C, LPV_SRV_AGB_O              -> LPV
    RRL_ab, RRL_c, RRL_d, RRL_e                              -> RRLYR
    T2CEPH, NonVar, anything else                            -> OTHER

`--out PREDS.csv` gets one row per (curve, truncation), flushed as it goes, columns `set,
object_id, band, label, truncate, n_points, upsilon_class, upsilon_probability,
upsilon_flag, predicted, seconds` (n_points: after the truncation rule, before clipping;
seconds: truncation + clipping + features + prediction, not reading nor the model load,
about 10 s once per process). `--resume` keeps the rows already there and scores only the
rest. `--jobs N` forks N processes after the model is loaded (shared copy-on-write).

Summary per set and truncation (printed, and with `--json`): n, macro F1 over our five
classes that occur among the true or predicted labels (as bench/cross_survey.py does;
OTHER and errors are wrong predictions that count against the true class's recall but
are no class of their own), accuracy, recall per true class, the predicted mix, errors,
flagged share, median points and mean seconds per curve. Real data is read in place,
never copied. Not a unit test: never run under pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

SPEC = ("upsilon==1.2.10", "scikit-learn==1.2.2", "numpy<2", "scipy<1.12")
CLASSES = ("CEP", "DSCT", "ECL", "LPV", "RRLYR")
UPSILON_TO_OURS = {
    "CEPH_F": "CEP", "CEPH_1O": "CEP", "CEPH_Other": "CEP",
    "DSCT": "DSCT",
    "EB_EC": "ECL", "EB_ED": "ECL", "EB_ESD": "ECL",
    "LPV_Mira_AGB_C": "LPV", "LPV_Mira_AGB_O": "LPV", "LPV_OSARG_AGB": "LPV",
    "LPV_OSARG_RGB": "LPV", "LPV_SRV_AGB_C": "LPV", "LPV_SRV_AGB_O": "LPV",
    "RRL_ab": "RRLYR", "RRL_c": "RRLYR", "RRL_d": "RRLYR", "RRL_e": "RRLYR",
    "T2CEPH": "OTHER", "NonVar": "OTHER",
}
FIELDS = ("set", "object_id", "band", "label", "truncate", "n_points", "upsilon_class",
          "upsilon_probability", "upsilon_flag", "predicted", "seconds")
SELECTION_FIELDS = ("set", "dir", "path", "object_id", "band", "label")
MIN_POINTS = 7  # UPSILoN's 3rd-order Fourier fit has 7 parameters

# ---------------------------------------------------------------- parent: the cached venv


def ensure_venv() -> Path:
    """Build the UPSILoN venv once (parallel runs wait for one build)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the outer process only
    from devtools.build_once import build_once, cache_root

    key = hashlib.sha256(json.dumps(list(SPEC)).encode()).hexdigest()[:16]
    return build_once(cache_root() / f"venv-upsilon-{key}", _build_venv)


def _build_venv(venv: Path) -> None:
    python = os.environ.get("PYTHON") or shutil.which("python3.11") or sys.executable
    print(f"peer_upsilon: building {venv} with {python} ({' '.join(SPEC)})", file=sys.stderr)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "--progress-bar", "off", *SPEC],
                   check=True, stdout=sys.stderr)
    # The model must be inside the package: nothing may download at scoring time.
    check = ("import importlib.util, os; d = os.path.dirname(importlib.util.find_spec("
             "'upsilon').origin); p = os.path.join(d, 'datasets', 'models', "
             "'rf.model.sub.github.gz'); assert os.path.getsize(p) > 10**7, p")
    subprocess.run([str(venv / "bin" / "python"), "-I", "-c", check], check=True)


def exec_in_venv(argv: list[str]) -> None:
    """Replace this process by the worker in the UPSILoN venv (a kill then reaches it)."""
    venv = ensure_venv()
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    # -I: no PYTHONPATH, no user site, no script folder on sys.path (never the project).
    python = str(venv / "bin" / "python")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(python, [python, "-I", str(Path(__file__).resolve()), *argv, "--worker"], env)


# ---------------------------------------------------------------- worker: curves


def first_points(time_: Any, mag: Any, err: Any, n: int) -> tuple[Any, Any, Any]:
    """The truncation rule shared with the leave-one-survey-out bench.

    Drop rows whose time, mag or err is not finite, sort by time (stable), keep the first
    `n` rows (n = 0: all). Duplicates are kept; nothing else is filtered.
    """
    import numpy as np

    time_, mag, err = (np.asarray(a, dtype=float) for a in (time_, mag, err))
    ok = np.isfinite(time_) & np.isfinite(mag) & np.isfinite(err)
    time_, mag, err = time_[ok], mag[ok], err[ok]
    order = np.argsort(time_, kind="stable")
    if n > 0:
        order = order[:n]
    return time_[order], mag[order], err[order]


def read_curve(path: Path) -> tuple[Any, Any, Any]:
    """time, mag, err of one curve: an OGLE .dat (3 whitespace columns) or a headed CSV."""
    import numpy as np

    if path.suffix.lower() == ".dat":
        data = np.loadtxt(path, usecols=(0, 1, 2), ndmin=2)
        return data[:, 0], data[:, 1], data[:, 2]
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        cols = [header.index(c) for c in ("time", "mag", "err")]
        values = []
        for row in reader:
            values.append([_float(row[c]) if c < len(row) else math.nan for c in cols])
    data = np.array(values, dtype=float).reshape(-1, 3)
    return data[:, 0], data[:, 1], data[:, 2]


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_manifest(directory: Path) -> list[dict[str, str]]:
    with open(directory / "manifest.csv", newline="") as f:
        return [{k: (v or "") for k, v in row.items()} for row in csv.DictReader(f)]


def curves_from_selection(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in SELECTION_FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"error: {path}: missing columns {missing}")
        return [{c: (row[c] or "").strip() for c in SELECTION_FIELDS} for row in reader]


def curves_from_dirs(dirs: list[Path], limit: int, seed: int,
                     split_bands: bool) -> list[dict[str, str]]:
    """A seeded sample of at most `limit` curves per (directory[, band], label)."""
    import numpy as np

    names = [d.resolve().name for d in dirs]
    chosen: list[dict[str, str]] = []
    for d, name in zip(dirs, names, strict=True):
        name = name if names.count(name) == 1 else str(d)
        rows = read_manifest(d)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, row in enumerate(rows):
            band = row.get("band", "")
            groups.setdefault((band if split_bands else "", row.get("label", "")), []).append(i)
        rng = np.random.default_rng(seed)
        keep: list[int] = []
        for key in sorted(groups):
            idx = np.array(groups[key])
            keep += (rng.permutation(idx)[:limit] if limit > 0 else idx).tolist()
        for i in sorted(keep):
            row = rows[i]
            band = row.get("band", "")
            chosen.append({"set": f"{name} ({band})" if split_bands else name, "dir": str(d),
                           "path": row["path"], "object_id": row.get("object_id", ""),
                           "band": band, "label": row.get("label", "")})
    return chosen


# ---------------------------------------------------------------- worker: scoring

_MODEL: Any = None


def load_model() -> Any:
    global _MODEL
    warnings.simplefilter("ignore")  # sklearn's pickle-version warning, UPSILoN's < 80 points
    with contextlib.redirect_stdout(io.StringIO()):  # UPSILoN prints a pyFFTW banner
        import upsilon
    model = upsilon.load_rf_model()
    model.n_jobs = 1  # pickled with n_jobs=32
    unknown = [str(c) for c in model.classes_ if str(c) not in UPSILON_TO_OURS]
    if unknown:
        print(f"peer_upsilon: classes not in the map, scored as OTHER: {unknown}",
              file=sys.stderr)
    _MODEL = model
    return model


def classify(date: Any, mag: Any, err: Any) -> tuple[str, float | None, int | None]:
    """UPSILoN's recipe on one prepared curve: (class or error:<reason>, probability, flag)."""
    import numpy as np
    import upsilon

    if len(date) < MIN_POINTS:
        return f"error:too few points ({len(date)} < {MIN_POINTS})", None, None
    date, mag, err = upsilon.utils.sigma_clipping(date, mag, err, threshold=3, iteration=1)
    if len(date) < MIN_POINTS:
        return f"error:too few points after clipping ({len(date)})", None, None
    with np.errstate(all="ignore"):
        extractor = upsilon.ExtractFeatures(date, mag, err, n_threads=1)
        extractor.run()
        features = extractor.get_features()
        used = [features[name] for name in upsilon.get_feature_set()]
        if not np.all(np.isfinite(used)):
            return "error:non-finite features", None, None
        label, probability, flag = upsilon.predict(_MODEL, features)
    return str(label), float(probability), int(flag)


def score_curve(task: tuple[dict[str, str], list[int]]) -> list[dict[str, Any]]:
    """Every requested truncation of one curve; failures become error rows."""
    curve, truncations = task
    base = {k: curve[k] for k in ("set", "object_id", "band", "label")}
    try:
        data = read_curve(Path(curve["dir"]) / curve["path"])
    except Exception as exc:  # unreadable: one error row per truncation
        data, read_error = None, _reason("read", exc)
    rows = []
    for n in truncations:
        start = time.perf_counter()
        n_points = 0
        if data is None:
            cls, prob, flag = read_error, None, None
        else:
            try:
                date, mag, err = first_points(*data, n)
                n_points = len(date)
                cls, prob, flag = classify(date, mag, err)
            except Exception as exc:
                cls, prob, flag = _reason("upsilon", exc), None, None
        predicted = "OTHER" if cls.startswith("error:") else UPSILON_TO_OURS.get(cls, "OTHER")
        rows.append({**base, "truncate": n, "n_points": n_points, "upsilon_class": cls,
                     "upsilon_probability": "" if prob is None else f"{prob:.4f}",
                     "upsilon_flag": "" if flag is None else flag, "predicted": predicted,
                     "seconds": f"{time.perf_counter() - start:.3f}"})
    return rows


def _reason(stage: str, exc: Exception) -> str:
    text = " ".join(str(exc).split())[:80]
    return f"error:{stage} {type(exc).__name__}: {text}"


# ---------------------------------------------------------------- worker: output, summary


def key_of(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (str(row["set"]), str(row["object_id"]), str(row["band"]), str(row["truncate"]))


def read_done(out: Path) -> list[dict[str, str]]:
    """Rows already in PREDS.csv; a half-written last line (killed run) is cut off."""
    if not out.exists() or out.stat().st_size == 0:
        return []
    raw = out.read_bytes()
    if not raw.endswith(b"\n"):
        out.write_bytes(raw[: raw.rfind(b"\n") + 1])
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != FIELDS:
            sys.exit(f"error: {out}: not a peer_upsilon predictions file (columns differ)")
        return [row for row in reader if None not in row.values()]


def summarize(rows: list[dict[str, Any]], order: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """One summary per (set, truncation), in `order`."""
    import numpy as np

    out = []
    for set_name, n in order:
        group = [r for r in rows if r["set"] == set_name and int(r["truncate"]) == n]
        if not group:
            continue
        y = np.array([r["label"] for r in group])
        p = np.array([r["predicted"] for r in group])
        present = [c for c in CLASSES if c in y or c in p]
        f1 = []
        for c in present:
            tp = np.sum((y == c) & (p == c))
            denominator = np.sum(y == c) + np.sum(p == c)
            f1.append(2 * tp / denominator if denominator else 0.0)
        flags = [r["upsilon_flag"] for r in group if str(r["upsilon_flag"]) != ""]
        mix = {c: int(np.sum(p == c)) for c in (*CLASSES, "OTHER") if np.any(p == c)}
        out.append({
            "set": set_name, "truncate": n, "n": len(group),
            "macro_f1": float(np.mean(f1)) if f1 else None,
            "accuracy": float(np.mean(y == p)),
            "recall": {c: float(np.mean(p[y == c] == c)) for c in CLASSES if np.any(y == c)},
            "predicted": mix,
            "errors": sum(str(r["upsilon_class"]).startswith("error:") for r in group),
            "flagged": float(np.mean([int(f) for f in flags])) if flags else None,
            "median_points": float(np.median([int(r["n_points"]) for r in group])),
            "seconds_per_curve": float(np.mean([float(r["seconds"]) for r in group])),
        })
    return out


def print_summary(summary: list[dict[str, Any]]) -> None:
    def f(value: float | None) -> str:
        return "  null" if value is None else f"{value:6.3f}"

    print("\nUPSILoN 1.2.10 (Kim & Bailer-Jones 2016), classes mapped to ours, OTHER = wrong")
    print(f"{'set':<22} {'trunc':>5} {'n':>5} {'pts':>5} {'macroF1':>7} {'acc':>6} "
          f"{'err':>4} {'flag':>6} {'s/curve':>7}  recall per true class | predicted mix")
    for s in summary:
        recall = " ".join(f"{c}={v:.2f}" for c, v in s["recall"].items())
        mix = " ".join(f"{c}={k}" for c, k in s["predicted"].items())
        trunc = "all" if s["truncate"] == 0 else str(s["truncate"])
        print(f"{s['set']:<22} {trunc:>5} {s['n']:>5} {s['median_points']:>5.0f} "
              f"{f(s['macro_f1']):>7} {f(s['accuracy'])} {s['errors']:>4} "
              f"{f(s['flagged'])} {s['seconds_per_curve']:>7.2f}  {recall} | {mix}")


def worker(args: argparse.Namespace) -> None:
    if args.selection:
        curves = curves_from_selection(args.selection)
    else:
        curves = curves_from_dirs(args.data, args.max_per_class, args.seed, args.split_bands)
    kept, seen, skipped = [], set(), 0
    for c in curves:
        key = (c["set"], c["object_id"], c["band"])
        if c["label"] not in CLASSES or key in seen:
            skipped += 1
            continue
        seen.add(key)
        kept.append(c)
    if skipped:
        print(f"peer_upsilon: skipped {skipped} curves (label not one of {'/'.join(CLASSES)}, "
              "or a repeated (set, object_id, band))", file=sys.stderr)
    wanted = {(c["set"], c["object_id"], c["band"], str(n)) for c in kept for n in args.truncate}

    done = [r for r in read_done(args.out) if key_of(r) in wanted] if (
        args.out and args.resume) else []
    done_keys = {key_of(r) for r in done}
    tasks = []
    for c in kept:
        todo = [n for n in args.truncate
                if (c["set"], c["object_id"], c["band"], str(n)) not in done_keys]
        if todo:
            tasks.append((c, todo))
    print(f"peer_upsilon: {len(kept)} curves x {len(args.truncate)} truncations; "
          f"{len(done)} rows already done, {len(tasks)} curves to score", file=sys.stderr)

    rows: list[dict[str, Any]] = list(done)
    if tasks:
        start = time.perf_counter()
        load_model()
        print(f"peer_upsilon: model loaded in {time.perf_counter() - start:.1f} s",
              file=sys.stderr)
        rows += run_tasks(tasks, args)

    order = list(dict.fromkeys((c["set"], n) for c in kept for n in args.truncate))
    summary = summarize(rows, order)
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps({
            "peer": "UPSILoN 1.2.10 (Kim & Bailer-Jones 2016, A&A 587, A18)",
            "spec": list(SPEC), "class_map": UPSILON_TO_OURS, "truncate": args.truncate,
            "summary": summary}, indent=1) + "\n")


def run_tasks(tasks: list[tuple[dict[str, str], list[int]]],
              args: argparse.Namespace) -> list[dict[str, Any]]:
    """Score `tasks` (in-process or on a fork pool), appending each row to --out at once."""
    import multiprocessing

    out_file = None
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fresh = not args.resume or not args.out.exists() or args.out.stat().st_size == 0
        out_file = open(args.out, "w" if fresh else "a", newline="")  # noqa: SIM115
    writer = csv.DictWriter(out_file, fieldnames=FIELDS) if out_file else None
    if writer and out_file and out_file.tell() == 0:
        writer.writeheader()
        out_file.flush()
    pool = None
    if args.jobs > 1:
        pool = multiprocessing.get_context("fork").Pool(args.jobs)  # shares the loaded model
        results = pool.imap_unordered(score_curve, tasks, chunksize=1)
    else:
        results = map(score_curve, tasks)
    rows: list[dict[str, Any]] = []
    start = last = time.perf_counter()
    try:
        for done, curve_rows in enumerate(results, 1):
            rows += curve_rows
            if writer and out_file:
                for row in curve_rows:
                    writer.writerow(row)
                    out_file.flush()
            now = time.perf_counter()
            if now - last >= 5 or done == len(tasks):
                last = now
                r = curve_rows[0]
                eta = (now - start) / done * (len(tasks) - done)
                print(f"peer_upsilon: {done}/{len(tasks)} curves, {now - start:.0f} s, "
                      f"eta {eta:.0f} s; last {r['set']} {r['object_id']} {r['band']}: "
                      + " ".join(f"{x['truncate']}->{x['upsilon_class']}" for x in curve_rows),
                      file=sys.stderr, flush=True)
    finally:
        if pool:
            pool.terminate()
        if out_file:
            out_file.close()
    return rows


# ---------------------------------------------------------------- command line


def parse_truncate(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("comma-separated counts >= 0 (0 = every point)")
    return list(dict.fromkeys(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--selection", type=Path,
                        help="CSV with columns set,dir,path,object_id,band,label")
    source.add_argument("--data", type=Path, action="append",
                        help="light-curve directory (repeatable); sampled per label")
    parser.add_argument("--max-per-class", type=int, default=0,
                        help="with --data: curves per (directory, label); 0 = all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-bands", action="store_true",
                        help="with --data: one set per (directory, band)")
    parser.add_argument("--truncate", type=parse_truncate, default=[0],
                        help="e.g. 0,100,40,20: first n points per curve (0 = all)")
    parser.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="predictions CSV, per row")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --out, score the rest")
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    parser.add_argument("--setup-only", action="store_true",
                        help="build the UPSILoN venv if needed, print its path, exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.setup_only:
        print(ensure_venv())
        return
    if not (args.selection or args.data):
        parser.error("give --selection FILE or --data DIR")
    if args.resume and not args.out:
        parser.error("--resume needs --out")
    for d in args.data or []:
        if not (d / "manifest.csv").is_file():
            parser.error(f"{d}: no manifest.csv (a light-curve directory is expected)")
    if args.selection and not args.selection.is_file():
        parser.error(f"{args.selection}: not found")
    if args.worker:
        # SIGTERM runs the cleanup (pool terminated, predictions file closed) like Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        worker(args)
    else:
        exec_in_venv(argv)


if __name__ == "__main__":
    main()
