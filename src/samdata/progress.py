"""The progress hooks of the scan, ingest and curate stages: what a front end (the CLI's bars, the
pipeline) implements to show progress; each default shows nothing. Here, apart from the stages, so
a front end can implement them without loading the stages' models."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from samdata.ingest import FileReport


class ScanProgress:
    """Hooks of `samdata.scan.run.run_scan`."""

    def walking(self, files_found: int) -> None: ...
    def reading(self, total_files: int, total_bytes: int) -> None: ...
    def advance(self, files: int, nbytes: int) -> None: ...
    def done(self) -> None: ...


class IngestProgress:
    """Hooks of `samdata.ingest.run_ingest`."""

    def start(self, total_files: int, total_bytes: int) -> None: ...
    def bytes_done(self, nbytes: int) -> None: ...  # within a big file, as its chunks are committed
    def file_done(self, report: FileReport, nbytes: int) -> None: ...
    def done(self) -> None: ...


class CurateProgress:
    """Hooks of `samdata.curate.run_curate`."""

    def detector(self, name: str, total: int) -> None: ...  # a detector starts on `total` examples
    def advance(self, n: int) -> None: ...
    def stage(self, name: str) -> None: ...  # a step without a count (clustering, the funnel)
    def done(self) -> None: ...
