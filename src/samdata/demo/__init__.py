"""`samdata demo`: generate the demo estate, run every stage that exists, write the reports."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.curate import CurateProgress, CurateReport, run_curate
from samdata.demo.estate import Estate, build_estate
from samdata.export import ExportResult, run_export
from samdata.ingest import IngestProgress, IngestReport, run_ingest
from samdata.paths import write_text_atomic
from samdata.scan.inventory import build_inventory, render
from samdata.scan.run import Progress, ScanReport, run_scan
from samdata.train import TrainOptions, default_backend, launch, prepare_run
from samdata.train.tiny import build_tiny_model


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
    run: dict[str, Any] | None = None  # the training run, with its metrics
    train_skipped: str | None = None  # why no run, if none


def run_demo(
    directory: Path | None = None,
    progress: Progress | None = None,
    ingest_progress: IngestProgress | None = None,
    train: bool = True,
    curate_progress: CurateProgress | None = None,
) -> DemoResult:
    """Build the demo estate in `directory` (a new temp folder if None), scan it, write inventories,
    then ingest every configured source, curate it, export every recipe, and train 10 LoRA steps
    of a tiny local Qwen2 on the SFT export with the installed backend."""
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
        curated = run_curate(config, catalog, curate_progress)
        exports = {
            name: run_export(config, catalog, name, directory / "exports" / name) for name in config.recipes
        }
        run, skipped = _train(catalog, directory, exports) if train else (None, "not asked for")
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
        run=run,
        train_skipped=skipped,
    )


def _train(
    catalog: Catalog, directory: Path, exports: dict[str, ExportResult]
) -> tuple[dict[str, Any] | None, str | None]:
    """Build a tiny model from the SFT export's text and train it; (run with metrics, or why not)."""
    backend = default_backend()
    if backend is None:
        return None, "no training backend installed (pip install 'samdata[trl]' or 'samdata[mlx]')"
    export = exports["sam-sft" if backend == "mlx" else "sam-sft-trl"]
    texts = (
        m["content"]
        for line in (export.out_dir / "train.jsonl").read_text().splitlines()
        for m in orjson.loads(line)["messages"]
    )
    model = build_tiny_model(directory / "models" / "qwen2-tiny", texts)
    options = TrainOptions(steps=10, batch_size=2, learning_rate=1e-3, lora_layers=2, max_seq_length=512,
                           report_every=5, eval_every=5, val_batches=4)  # fmt: skip
    job = prepare_run(catalog, str(export.out_dir), model, backend, options)
    launch(catalog, job).wait()
    run = catalog.run(job.run_id)
    assert run is not None
    return {**run, "metrics": catalog.metrics(job.run_id)}, None
