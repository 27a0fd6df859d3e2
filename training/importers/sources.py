"""Reading the raw inputs of an import: tar members streamed in one pass, plain files, progress.

Survey archives are distributed as tar(.gz); extracting tens of thousands of small files to
disk first costs more than the import itself, so members are read straight from the stream
(`tarfile` mode `r|*`: one sequential pass, no seeking, works for gzip, bzip2 and xz).
"""

from __future__ import annotations

import contextlib
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from training.importers.report import ImporterError, ImportReport

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_tar_name(path: Path) -> bool:
    """Whether a file name says tar archive (content is checked when it is opened)."""
    return path.name.lower().endswith(TAR_SUFFIXES)


def find_archive(src: Path, name: str, give: str) -> Path:
    """The tar archive `src`, or `src/name` when `src` is its folder.

    ImporterError naming `src` and ending in `give` (what to give instead) if there is no
    such file or its name is not a tar archive's.
    """
    archive = src / name if src.is_dir() else src
    if not archive.exists():
        where = f"no {name} in it" if src.is_dir() else "no such file"
        raise ImporterError(f"{src}: {where}; {give}")
    if not is_tar_name(archive):
        raise ImporterError(f"{src}: not a tar archive; {give}")
    return archive


class ProgressBar:
    """A rich progress bar that is a no-op when disabled (the Python API default)."""

    def __init__(self, enabled: bool, description: str, total: float | None) -> None:
        self._progress: Progress | None = None
        self._task = None
        if enabled:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
            )
            self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, completed: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed)


def iter_tar_members(path: Path, progress: bool = False) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of every regular file in a tar(.gz), streamed in archive order."""
    try:
        handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by the ExitStack below
    except OSError as exc:
        raise ImporterError(f"{path}: cannot open ({exc.strerror})") from exc
    with contextlib.ExitStack() as stack:
        stack.enter_context(handle)
        try:
            archive = stack.enter_context(tarfile.open(fileobj=handle, mode="r|*"))
        except (tarfile.TarError, TypeError) as exc:
            # TypeError: CPython's tarfile on a gzip header cut short (found by bench/fuzz.py)
            why = "gzip header cut short" if isinstance(exc, TypeError) else exc
            raise ImporterError(
                f"{path}: not a readable tar archive ({why}); give a .tar or .tar.gz of the "
                "survey's files, or the directory they were extracted to"
            ) from exc
        size = path.stat().st_size
        bar = stack.enter_context(ProgressBar(progress, f"reading {path.name}", size / 1e6))
        try:
            for member in archive:
                if not member.isfile():
                    continue
                extracted = archive.extractfile(member)
                if extracted is None:
                    continue
                data = extracted.read()
                bar.update(round(handle.tell() / 1e6, 1))
                yield member.name, data
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ImporterError(
                f"{path}: archive is truncated or corrupt ({exc}); download it again"
            ) from exc


def iter_star_members(
    archive: Path, suffix: str, report: ImportReport, progress: bool = False
) -> Iterator[tuple[PurePosixPath, bytes]]:
    """(path, bytes) of the members whose name ends in `suffix` (one star each), counted in
    `report.read`; other members (READMEs and the like) are passed over uncounted."""
    for name, data in iter_tar_members(archive, progress):
        member = PurePosixPath(name)
        if member.suffix.lower() != suffix:
            continue  # READMEs and the like are not stars
        report.read += 1
        yield member, data
