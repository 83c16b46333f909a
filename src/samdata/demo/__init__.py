"""`samdata demo`: generate the demo estate, run every stage that exists, write the reports."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.curate import CurateReport, run_curate
from samdata.demo.estate import Estate, build_estate
from samdata.export import ExportResult, run_export
from samdata.ingest import IngestProgress, IngestReport, run_ingest
from samdata.paths import write_text_atomic
from samdata.scan.inventory import build_inventory, render
from samdata.scan.run import Progress, ScanReport, run_scan


class DemoError(Exception):
    """The demo folder cannot be used."""


@dataclass
class DemoResult:
    """Where the demo put things and what its scan found."""

    estate: Estate
    catalog: Path
    reports: dict[str, Path]
    scan: ScanReport
    ingest: IngestReport
    stats: dict[str, Any]
    curate: CurateReport
    exports: dict[str, ExportResult]


def run_demo(
    directory: Path | None = None,
    progress: Progress | None = None,
    ingest_progress: IngestProgress | None = None,
) -> DemoResult:
    """Build the demo estate in `directory` (a new temp folder if None), scan it, write inventories,
    then ingest every configured source, curate it, and export every recipe."""
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="samdata-demo-"))
    directory = directory.absolute()
    if directory.exists() and any(directory.iterdir()):
        raise DemoError(f"{directory}: folder is not empty; give a new or empty folder")
    estate = build_estate(directory)
    config = load_config(estate.config_path)
    with Catalog.open(config.catalog_path) as catalog:
        report = run_scan(config, catalog, progress=progress)
        inventory = build_inventory(catalog, config)
        ingested = run_ingest(config, catalog, progress=ingest_progress)
        stats = catalog.ingest_stats()
        curated = run_curate(config, catalog)
        exports = {
            name: run_export(config, catalog, name, directory / "exports" / name) for name in config.recipes
        }
    reports = {}
    for fmt in ("md", "json", "html"):
        path = directory / "reports" / f"inventory.{fmt}"
        write_text_atomic(path, render(inventory, fmt))
        reports[fmt] = path
    return DemoResult(
        estate=estate,
        catalog=config.catalog_path,
        reports=reports,
        scan=report,
        ingest=ingested,
        stats=stats,
        curate=curated,
        exports=exports,
    )
