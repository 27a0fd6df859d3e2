"""`training report DIR...`: one Markdown page of the runs, experiments and searches given.

A researcher asks "does the self-regulated training help, and with which settings?" and
should read the answer in a browser, not in scattered JSON. The page gathers what the other
commands already wrote, found anywhere under each directory:

- `training train` / `evaluate` runs (metrics.json): the scores, and links to their
  training_curves*.png, confusion_matrix.png, reliability.png;
- `training experiment` (experiment.json): the paper's Table 5 layout, one-loss against
  two-losses; `--vary` (vary.json): one row per value (Tables 3–6);
- `training tune` (tune.json, or a tune.db whose search was cut short): the Table 2
  analogue, the leading trials and the Figure A1 scatter;
- fitted generators (generator folders): the paper's Figure 5, synthetic light curves,
  drawn once per directory given (nothing else writes it during training);
- any other PNG, linked under "Other figures".

Figures that exist are linked where they lie (relative links), never redrawn; the figures
the page draws itself go to `<report>_files/` beside it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import typer

from broker_plugin.errors import UserError

RUN_METRICS = ("macro_f1", "roc_auc_ovo", "roc_auc_ovr", "ece", "accuracy", "best_epoch",
               "epochs_run", "seconds_per_epoch")
TOP_TRIALS = 10


class ReportError(UserError, ValueError):
    """A directory or file the report cannot read (names it and the fix)."""


class _Page:
    """The Markdown being written, and which figures it already links."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.assets = out.parent / f"{out.stem}_files"
        self.lines: list[str] = []
        self.linked: set[Path] = set()

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def figure(self, path: Path, caption: str) -> None:
        self.linked.add(path.resolve())
        link = os.path.relpath(path.resolve(), self.out.parent.resolve())
        link = link.replace(os.sep, "/")
        if re.search(r"[\s()]", link):
            link = f"<{link}>"
        self.add(f"![{caption}]({link})", "")

    def asset(self, name: str) -> Path:
        self.assets.mkdir(parents=True, exist_ok=True)
        return self.assets / name


def build_report(dirs: list[Path], out: Path, synthetic: bool = True) -> Path:
    """Write the page for `dirs` to `out` (module docstring); returns `out`."""
    out = Path(out)
    for directory in dirs:
        if not Path(directory).is_dir():
            raise ReportError(f"{directory}: not a directory; give run, experiment or tune "
                              "output directories")
    out.parent.mkdir(parents=True, exist_ok=True)
    page = _Page(out)
    page.add("# Report", "", "Gathered by `training report` from: " +
             ", ".join(f"`{d}`" for d in dirs) + ".", "")
    for directory in dirs:
        _directory(page, Path(directory), synthetic)
    out.write_text("\n".join(page.lines).rstrip() + "\n")
    return out


def _directory(page: _Page, root: Path, synthetic: bool) -> None:
    page.add(f"## {root}", "")
    found = 0
    for path in sorted(root.rglob("tune.json")):
        _tune(page, root, path.parent, json.loads(_read(path))["studies"])
        found += 1
    for db in sorted(root.rglob("*.db")):
        if not (db.parent / "tune.json").is_file():
            from training.classifier.tune_analysis import analyse_storage

            _tune(page, root, db.parent, analyse_storage(f"sqlite:///{db.resolve()}"))
            found += 1
    for path in sorted(root.rglob("vary.json")):
        _vary(page, root, path)
        found += 1
    for path in sorted(root.rglob("experiment.json")):
        _experiment(page, root, path)
        found += 1
    for path in sorted(root.rglob("metrics.json")):
        _run(page, root, path.parent)
        found += 1
    generators = sorted(p.parent for p in root.rglob("vae.pt"))
    if generators and synthetic:
        _synthetic(page, root, generators)
        found += 1
    others = [p for p in sorted(root.rglob("*.png")) if p.resolve() not in page.linked
              and page.assets.resolve() not in p.resolve().parents]
    if others:
        page.add("### Other figures", "")
        for png in others:
            page.figure(png, str(png.relative_to(root)))
        found += 1
    if not found:
        raise ReportError(f"{root}: no run, experiment or tune outputs found (looked for "
                          "metrics.json, experiment.json, vary.json, tune.json, *.db and "
                          "PNG figures)")


def _read(path: Path) -> str:
    text = path.read_text()
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON at line {exc.lineno} ({exc.msg}); was "
                          "the command that writes it interrupted?") from None
    return text


def _name(root: Path, directory: Path) -> str:
    rel = directory.relative_to(root)
    return str(rel) if str(rel) != "." else root.name


def _table(columns: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|",
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"
    return str(value)


# --- sections ------------------------------------------------------------------------------


def _tune(page: _Page, root: Path, directory: Path, analyses: list[dict[str, Any]]) -> None:
    from training.classifier.tune_analysis import (
        TABLE2_COLUMNS,
        plot_figure_a1,
        table2_rows,
    )

    page.add(f"### Search `{_name(root, directory)}` (training tune)", "",
             "Table 2 analogue (Pérez-Galarce et al. 2025): R² of the least-squares line of "
             "test-set macro F1 on the objective; *recommended* is the trial with the best "
             "objective, *best found* the trial with the best test F1 (an oracle's pick).", "")
    page.add(*_table(list(TABLE2_COLUMNS), table2_rows(analyses)))
    figure = directory / "figure_a1.png"
    if not figure.is_file():
        figure = page.asset(f"figure_a1-{_slug(_name(root, directory))}.png")
        if plot_figure_a1(analyses, figure) is None:
            figure = None  # type: ignore[assignment]
    if figure is not None:
        page.figure(figure, "Figure A1 analogue: objective against test-set F1")
    for a in analyses:
        trials = sorted(a["trials"], key=lambda r: r["objective"], reverse=True)[:TOP_TRIALS]
        if not trials:
            continue
        keys = sorted({k for r in trials for k in r["params"]})
        page.add(f"Leading trials of `{a['study']}` by objective:", "")
        rows = [[str(r["trial"]), _num(r["objective"]), _num(r["f1_val"]),
                 _num(r["f1_synthetic"]), _num(r["f1_test"]),
                 *(_num(r["params"].get(k)) for k in keys)] for r in trials]
        page.add(*_table(["trial", "objective", "F1 val", "F1 synthetic", "F1 test", *keys],
                         rows))
    for best in sorted(directory.glob("best-*.yaml")):
        page.add(f"Best configuration: `{best.relative_to(root)}` "
                 f"(`training train --config {best.name}`).", "")


def _experiment(page: _Page, root: Path, path: Path) -> None:
    from training.classifier.experiment import MODES

    result = json.loads(_read(path))
    page.add(f"### Experiment `{_name(root, path.parent)}`", "",
             f"{result.get('scenario')} split, {result.get('repeats')} repeats, "
             f"{len(result.get('runs', []))} runs; mean [min, max] per mode, two-sided "
             "Mann–Whitney U and Welch t-test p between the modes (the paper's Table 5 "
             "layout).", "")
    rows = [[metric, *(_cell(row.get(m)) for m in MODES), _num(row.get("mann_whitney_p")),
             _num(row.get("t_test_p"))] for metric, row in result.get("table", {}).items()]
    page.add(*_table(["metric", *MODES, "Mann–Whitney p", "t-test p"], rows))


def _vary(page: _Page, root: Path, path: Path) -> None:
    from training.classifier.experiment import MODES

    result = json.loads(_read(path))
    page.add(f"### Varied experiment `{_name(root, path.parent)}`: {result.get('axis')}", "",
             f"{result.get('scenario')} split, {result.get('repeats')} repeats per value "
             "(the paper's Tables 3–6 layout).", "")
    for metric in ("macro_f1", "roc_auc_ovo"):
        rows = []
        for row in result.get("rows", []):
            stats = row.get("table", {}).get(metric, {})
            rows.append([str(row.get("value")), *(_cell(stats.get(m)) for m in MODES),
                         _num(stats.get("mann_whitney_p")), _num(stats.get("t_test_p"))])
        page.add(f"{metric}:", "")
        page.add(*_table([str(result.get("axis")), *MODES, "Mann–Whitney p", "t-test p"],
                         rows))


def _cell(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "n/a"
    return f"{stats['mean']:.3f} [{stats['min']:.3f}, {stats['max']:.3f}]"


def _run(page: _Page, root: Path, directory: Path) -> None:
    metrics = json.loads(_read(directory / "metrics.json"))
    kind = "Run" if (directory / "model_card.json").is_file() else "Evaluation"
    page.add(f"### {kind} `{_name(root, directory)}`", "")
    page.add(*_table(["metric", "value"], [[k, _num(metrics[k])] for k in RUN_METRICS
                                           if k in metrics]))
    for pattern, caption in (("training_curves*.png", "training curves"),
                             ("confusion_matrix.png", "confusion matrix"),
                             ("reliability.png", "reliability diagram")):
        for png in sorted(directory.glob(pattern)):
            page.figure(png, f"{caption} ({png.name})")


def _synthetic(page: _Page, root: Path, generators: list[Path]) -> None:
    """Figure 5 for the first generator; the others named (each costs a model load)."""
    page.add("### Synthetic light curves (the paper's Figure 5)", "")
    first = generators[0]
    target = page.asset(f"synthetic-{_slug(str(first.relative_to(root.parent)))}.png")
    try:
        from training.generator.figures import plot_synthetic
        from training.generator.generator import PelsGenerator

        plot_synthetic(PelsGenerator.load(first, device="cpu"), target)
    except (UserError, OSError, ValueError, KeyError, RuntimeError) as exc:
        page.add(f"Generator `{first.relative_to(root)}` could not be drawn: {exc}", "")
    else:
        page.figure(target, f"synthetic curves of {first.relative_to(root)}: decoded, "
                            "unfolded, folded beside the nearest real curve, (Δt, Δm)")
    if len(generators) > 1:
        page.add("Other generators: " + ", ".join(f"`{g.relative_to(root)}`"
                                                  for g in generators[1:]) +
                 " (`training plot-synthetic --generator DIR` draws each).", "")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "root"


def report_command(
    dirs: list[Path] = typer.Argument(..., help="Run, experiment, vary or tune directories."),
    out: Path = typer.Option(Path("report.md"), "--out", help="Markdown file to write; "
                             "figures it draws go to <name>_files/ beside it."),
    no_synthetic: bool = typer.Option(False, "--no-synthetic", help="Do not draw synthetic "
                                      "light curves from the generators found."),
) -> None:
    """One Markdown page with the tables and figures of the runs given (open it in a browser
    or any Markdown viewer)."""
    path = build_report(dirs, out, synthetic=not no_synthetic)
    typer.echo(f"wrote {path}")
