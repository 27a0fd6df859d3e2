"""What an import read, wrote and skipped, kept as counts so users can check it against the source.

Every importer fills one `ImportReport`; the CLI prints it with `print_report`. Skips are
counted by reason (not logged one by one): a survey archive with 300 bad files should say
"300 × empty file", not scroll 300 lines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from broker_plugin.errors import UserError
from broker_plugin.lightcurve import LightCurve


class ImporterError(UserError, ValueError):
    """A source that cannot be imported as asked; the message names the path and the fix."""


@dataclass
class ImportReport:
    """Counts of one import: items read, curves kept, skips and dropped points by reason."""

    source: Path
    survey: str
    unit: str = "files"
    out: Path | None = None
    read: int = 0
    curves: int = 0
    objects: set[str] = field(default_factory=set)
    label_objects: Counter[str] = field(default_factory=Counter)
    label_curves: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    dropped_points: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def skip(self, reason: str, count: int = 1) -> None:
        """Count `count` source items left out for `reason`."""
        self.skipped[reason] += count

    def drop_points(self, reason: str, count: int) -> None:
        """Count single measurements removed from kept curves (e.g. survey sentinels)."""
        if count:
            self.dropped_points[reason] += count

    def add(self, curve: LightCurve) -> None:
        """Count a kept curve (objects and labels are counted once per object)."""
        self.curves += 1
        label = curve.label or "(none)"
        self.label_curves[label] += 1
        if curve.object_id not in self.objects:
            self.objects.add(curve.object_id)
            self.label_objects[label] += 1

    def check_imported(self, where: Path, none_read: str, expected: str | None = None) -> None:
        """ImporterError if no curve was kept: names `where`, the commonest skip reason (or
        `none_read` when nothing was skipped) and, if given, what was `expected`."""
        if self.curves:
            return
        reason = self.skipped.most_common(1)[0][0] if self.skipped else none_read
        raise ImporterError(
            f"{where}: no star could be imported ({reason})"
            + (f"; {expected}" if expected else "")
        )

    @property
    def n_objects(self) -> int:
        return len(self.objects)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def print_report(report: ImportReport, console: Console | None = None) -> None:
    """Print what was read, kept per label, skipped per reason, and where it went."""
    console = console or Console()
    console.print(
        f"[bold]{report.survey}[/]: read {report.read:,} {report.unit} from {report.source}",
        highlight=False,
    )
    labels = Table(title=None, show_edge=False, pad_edge=False)
    labels.add_column("label")
    labels.add_column("objects", justify="right")
    labels.add_column("curves", justify="right")
    for label in sorted(report.label_objects):
        labels.add_row(
            label, f"{report.label_objects[label]:,}", f"{report.label_curves[label]:,}"
        )
    labels.add_row(
        "[bold]total[/]", f"[bold]{report.n_objects:,}[/]", f"[bold]{report.curves:,}[/]"
    )
    console.print(labels)
    if report.skipped:
        console.print("skipped:", highlight=False)
        for reason, count in report.skipped.most_common():
            console.print(f"  {count:>7,} × {reason}", highlight=False)
    else:
        console.print("skipped: nothing", highlight=False)
    for reason, count in report.dropped_points.most_common():
        console.print(f"dropped {count:,} points: {reason}", highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    if report.out is not None:
        console.print(
            f"wrote {report.curves:,} curves to {report.out} (manifest.csv) "
            f"in {report.seconds:.1f} s",
            highlight=False,
        )
