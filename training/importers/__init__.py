"""Importers of real survey data into the light-curve directory format.

Python API (the CLI `training import ...` wraps the same functions):
- `import_ogle(src, out, ...)`, `import_eros1(src, out)`, `import_sdss_rrlyr(src, out)`,
  `import_crts(src, out)`, `import_debosscher(src, out)` write a light-curve directory and
  return an `ImportReport` (counts read, kept per label, skipped per reason);
- `load_ogle(src, ...)`, `load_eros1(src)`, `load_sdss_rrlyr(src)`, `load_crts(src)`,
  `load_debosscher(src)` return the same curves in memory with the report, for code that
  needs no directory (e.g. realism checks).
- CRTS and Debosscher keep curves of classes outside the five with an empty label (`None`
  when read back) and the original class in `source_class`: filter `c.label in CLASSES`.
"""

from training.importers.crts import import_crts, load_crts
from training.importers.debosscher import import_debosscher, load_debosscher
from training.importers.eros1 import import_eros1, load_eros1
from training.importers.ogle import import_ogle, load_ogle
from training.importers.report import ImporterError, ImportReport, print_report
from training.importers.sdss_rrlyr import import_sdss_rrlyr, load_sdss_rrlyr

__all__ = [
    "ImportReport",
    "ImporterError",
    "import_crts",
    "import_debosscher",
    "import_eros1",
    "import_ogle",
    "import_sdss_rrlyr",
    "load_crts",
    "load_debosscher",
    "load_eros1",
    "load_ogle",
    "load_sdss_rrlyr",
    "print_report",
]
