"""The paper's Figure A1 and Table 2 from finished `training tune` studies.

Pérez-Galarce et al. (2025, §5.1, Table 2, Figure A1) ask which search objective, F1_val or
F1_weighted,α, points at configurations that do well on the shifted test set. Per study
(one objective) over its finished trials:

- R²: the coefficient of determination of the least-squares line of test-set macro F1 on
  the objective value (the squared Pearson correlation): how much of the test F1's spread
  across configurations the objective explains;
- recommended: the trial with the highest objective value, i.e. the configuration the
  search hands over (`best-<study>.yaml`), with its test F1 and policy — what a user of
  that objective actually gets;
- best found: the trial with the highest test F1, i.e. the best configuration the search
  evaluated, which only an oracle holding the test set could pick; the gap between the two
  is what the objective loses by not seeing the shift;
- top-5 mean: the mean test F1 of the five trials with the highest objective, a steadier
  view of "recommended" than one trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.config import POLICIES

TOP_K = 5


def analyse_study(study: Any) -> dict[str, Any]:
    """Figure A1 / Table 2 figures of one Optuna study (module docstring)."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    rows = [{"trial": t.number, "objective": t.value, **{k: t.user_attrs.get(k) for k in (
        "f1_val", "f1_synthetic", "f1_test", "roc_auc_ovo_test", "policy", "best_epoch",
        "seconds", "worker")}, "params": dict(t.params)} for t in done]
    spec = {k: v for k, v in study.user_attrs.get("tune_spec", {}).items()
            if k != "base_config"}
    scored = [r for r in rows if r["f1_test"] is not None and r["objective"] is not None]
    result: dict[str, Any] = {
        "study": study.study_name, **spec, "n_trials": len(study.trials),
        "n_complete": len(rows), "r2": None, "slope": None, "intercept": None,
        "recommended": None, "best_found": None, "top_mean_f1_test": None, "trials": rows,
    }
    if not scored:
        return result
    x = np.array([r["objective"] for r in scored], float)
    y = np.array([r["f1_test"] for r in scored], float)
    if x.size >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        result.update(r2=float(np.corrcoef(x, y)[0, 1] ** 2), slope=float(slope),
                      intercept=float(intercept))
    by_objective = sorted(scored, key=lambda r: r["objective"], reverse=True)
    result["recommended"] = _pick(by_objective[0])
    result["best_found"] = _pick(max(scored, key=lambda r: r["f1_test"]))
    result["top_mean_f1_test"] = float(np.mean([r["f1_test"] for r in by_objective[:TOP_K]]))
    return result


def _pick(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("trial", "objective", "f1_val", "f1_synthetic", "f1_test",
                                "policy")}


def analyse_storage(url: str, names: list[str] | None = None) -> list[dict[str, Any]]:
    """`analyse_study` for each study of an Optuna storage URL (all of them by default)."""
    from training.classifier.tune import TuneError, _optuna, open_storage

    optuna = _optuna()
    storage = open_storage(url)
    known = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    missing = sorted(set(names or []) - set(known))
    if missing:
        raise TuneError(f"{url}: no study named {', '.join(missing)}; it holds "
                        f"{', '.join(known) or 'none'}")
    return [analyse_study(optuna.load_study(study_name=name, storage=storage))
            for name in (names or known)]


def table2_rows(analyses: list[dict[str, Any]]) -> list[list[str]]:
    """Table 2's rows: study, objective, α, trials, R², recommended, best found, top-5."""

    def pick(p: dict[str, Any] | None) -> str:
        if not p:
            return "n/a"
        policy = f", {p['policy']}" if p.get("policy") else ""
        return f"{p['f1_test']:.3f} (#{p['trial']}{policy})"

    rows = []
    for a in analyses:
        alpha = f"{a['alpha']:g}" if a.get("objective") == "f1-weighted" else "—"
        rows.append([a["study"], str(a.get("mode", "?")), str(a.get("objective", "?")), alpha,
                     f"{a['n_complete']}/{a['n_trials']}",
                     "n/a" if a["r2"] is None else f"{a['r2']:.3f}",
                     pick(a["recommended"]), pick(a["best_found"]),
                     "n/a" if a["top_mean_f1_test"] is None else f"{a['top_mean_f1_test']:.3f}"])
    return rows


TABLE2_COLUMNS = ("study", "mode", "objective", "α", "trials done", "R² (objective, test F1)",
                  "recommended: test F1 (trial, policy)", "best found: test F1 (trial, policy)",
                  f"top-{TOP_K} by objective: mean test F1")


def table2_markdown(analyses: list[dict[str, Any]]) -> str:
    """Table 2 as a Markdown table."""
    lines = ["| " + " | ".join(TABLE2_COLUMNS) + " |",
             "|" + "|".join("---" for _ in TABLE2_COLUMNS) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table2_rows(analyses)]
    return "\n".join(lines)


def table2_rich(analyses: list[dict[str, Any]]) -> Any:
    """Table 2 for the terminal."""
    from rich.table import Table

    table = Table(title="Table 2 analogue: objective vs test-set macro F1 (recommended: best "
                        "objective; best found: best test F1; cells: test F1 (#trial, "
                        "policy))")
    for column in ("study", "mode", "objective", "α", "trials", "R²", "recommended",
                   "best found", f"top-{TOP_K}"):
        table.add_column(column, justify="right", overflow="fold")
    for row in table2_rows(analyses):
        table.add_row(*row)
    return table


def plot_figure_a1(analyses: list[dict[str, Any]], path: str | Path) -> Path | None:
    """One panel per study: test F1 against the objective, the fitted line and its R²,
    the recommended (star) and best-found (diamond) trials; None when nothing is scored."""
    panels = [a for a in analyses if any(r["f1_test"] is not None for r in a["trials"])]
    if not panels:
        return None
    from training.classifier.plots import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, a in zip(axes[0], panels, strict=True):
        rows = [r for r in a["trials"] if r["f1_test"] is not None]
        for k, policy in enumerate((*POLICIES, "one-loss")):  # one colour per policy
            chosen = [r for r in rows if (r["policy"] or "one-loss") == policy]
            if chosen:
                ax.scatter([r["objective"] for r in chosen], [r["f1_test"] for r in chosen],
                           s=22, color=f"C{k}", alpha=0.8, label=policy)
        if a["r2"] is not None:
            grid = np.linspace(min(r["objective"] for r in rows),
                               max(r["objective"] for r in rows), 2)
            ax.plot(grid, a["slope"] * grid + a["intercept"], "k--", lw=1)
        for key, marker in (("recommended", "*"), ("best_found", "D")):
            p = a[key]
            ax.scatter([p["objective"]], [p["f1_test"]], marker=marker, s=150,
                       facecolors="none", edgecolors="red", lw=1.5,
                       label=key.replace("_", " "))
        objective = a.get("objective", "objective")
        if objective == "f1-weighted":
            objective = f"F1_weighted (α = {a.get('alpha', 0):g})"
        r2 = "n/a" if a["r2"] is None else f"{a['r2']:.2f}"
        ax.set_title(f"{a['study']}\nR² = {r2}, {len(rows)} trials", fontsize=9)
        ax.set_xlabel(f"{objective} (validation)")
        ax.set_ylabel("macro F1, test set")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
