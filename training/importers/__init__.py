"""Importers of real survey data into the light-curve directory format.

Python API (the CLI `training import ...` wraps the same functions):
- `import_ogle(src, out, ...)`, `import_eros1(src, out)`, `import_sdss_rrlyr(src, out)` write a
  light-curve directory and return an `ImportReport` (counts read, kept per label, skipped per
  reason);
- `load_ogle(src, ...)`, `load_eros1(src)`, `load_sdss_rrlyr(src)` return the same curves in
  memory with the report, for code that needs no directory (e.g. realism checks).
"""

from training.importers.eros1 import import_eros1, load_eros1
from training.importers.ogle import import_ogle, load_ogle
from training.importers.report import ImporterError, ImportReport, print_report
from training.importers.sdss_rrlyr import import_sdss_rrlyr, load_sdss_rrlyr

__all__ = [
    "ImportReport",
    "ImporterError",
    "import_eros1",
    "import_ogle",
    "import_sdss_rrlyr",
    "load_eros1",
    "load_ogle",
    "load_sdss_rrlyr",
    "print_report",
]
