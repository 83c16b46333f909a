"""The progress bars of the scan, ingest and curate stages (each stage's progress hooks, drawn with
rich on stderr). Imported by the commands that run those stages, not at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.progress import TaskID

from samdata.cli._common import bytes_bar, count_bar
from samdata.progress import CurateProgress, IngestProgress, ScanProgress

if TYPE_CHECKING:
    from samdata.ingest import FileReport


class RichProgress(ScanProgress):
    """Progress bars on stderr while the scan walks and reads (silent when not a terminal)."""

    def __init__(self) -> None:
        self.bar = bytes_bar()
        self.walk_task: TaskID | None = None
        self.read_task: TaskID | None = None
        self.total_files = 0
        self.files_done = 0
        self.bar.start()

    def walking(self, files_found: int) -> None:
        if self.walk_task is None:
            self.walk_task = self.bar.add_task("walking", total=None, files="")
        self.bar.update(self.walk_task, files=f"{files_found:,} files found")

    def reading(self, total_files: int, total_bytes: int) -> None:
        if self.walk_task is not None:
            self.bar.remove_task(self.walk_task)
        self.total_files = total_files
        self.read_task = self.bar.add_task("reading", total=total_bytes, files=f"0/{total_files:,} files")

    def advance(self, files: int, nbytes: int) -> None:
        self.files_done += files
        if self.read_task is not None:
            self.bar.update(
                self.read_task, advance=nbytes, files=f"{self.files_done:,}/{self.total_files:,} files"
            )

    def done(self) -> None:
        self.bar.stop()


class IngestBar(IngestProgress):
    """A files/bytes progress bar for ingest (silent when not a terminal)."""

    def __init__(self) -> None:
        self.bar = bytes_bar()
        self.task: TaskID | None = None
        self.total = 0
        self.count = 0
        self.in_file = 0
        self.bar.start()

    def start(self, total_files: int, total_bytes: int) -> None:
        self.total = total_files
        self.task = self.bar.add_task("ingesting", total=total_bytes, files=f"0/{total_files:,} files")

    def bytes_done(self, nbytes: int) -> None:
        self.in_file += nbytes
        if self.task is not None:
            self.bar.update(self.task, advance=nbytes)

    def file_done(self, report: FileReport, nbytes: int) -> None:
        self.count += 1
        rest, self.in_file = max(nbytes - self.in_file, 0), 0
        if self.task is not None:
            self.bar.update(self.task, advance=rest, files=f"{self.count:,}/{self.total:,} files")

    def done(self) -> None:
        self.bar.stop()


class CurateBar(CurateProgress):
    """One bar per detector with its count and ETA, then a spinner-like line for the last steps."""

    def __init__(self) -> None:
        self.bar = count_bar()
        self.task: TaskID | None = None
        self.bar.start()

    def detector(self, name: str, total: int) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(f"curate: {name}", total=total)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, advance=n)

    def stage(self, name: str) -> None:
        self.detector(name, 0)

    def done(self) -> None:
        self.bar.stop()
