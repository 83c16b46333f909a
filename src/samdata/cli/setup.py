"""`samdata init`, `scan`, `inventory` and `demo`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from samdata.cli._common import (
    EXIT_PROBLEMS,
    CatalogOpt,
    ConfigOpt,
    JsonOpt,
    StrictOpt,
    app,
    emit_json,
    err,
    fail,
    load,
    open_catalog,
    out,
    print_funnel,
    print_ingest,
    print_run,
    print_scan,
)
from samdata.config import ConfigError
from samdata.paths import write_text_atomic


class InventoryFormat(StrEnum):
    md = "md"
    json = "json"
    html = "html"


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("samdata.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter samdata.toml with the data folders found in the usual places
    (Claude Code transcripts, ChatGPT exports, folders of JSONL), never the whole home folder."""
    from samdata.starter import write_starter_config

    try:
        written, found = write_starter_config(path, force=force)
    except ConfigError as e:
        fail(str(e))
    if found.claude_projects:
        out.print(f"found Claude Code transcripts: {escape(str(found.claude_projects))}")
    for p in found.chatgpt_exports:
        out.print(f"found a ChatGPT export: {escape(str(p))}")
    for folder, n in found.jsonl_folders:
        out.print(f"found {n:,} data file{'s' if n > 1 else ''} in {escape(str(folder))}")
    if not (found.claude_projects or found.chatgpt_exports or found.jsonl_folders):
        out.print("found no training data in the usual places: add your folders as [[roots]]")
    out.print(f"wrote {written}; check its roots and sources, then run: samdata scan --config {written}")


@app.command()
def scan(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Only walk these paths (default: every root).")
    ] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    strict: StrictOpt = False,
    workers: Annotated[int | None, typer.Option(help="Reader processes (default: one per core).")] = None,
) -> None:
    """Walk the roots, record every file (hash, format, records) and report the problems."""
    from samdata.cli.bars import RichProgress
    from samdata.scan import run as scan_run

    cfg = load(config, catalog)
    for p in paths or []:
        if not p.exists() and not p.is_symlink():
            fail(f"{p}: no such file or folder")
    if not paths and not cfg.roots:
        err.print(
            "warning: no [[roots]] in the config: nothing to walk (samdata init proposes some)", markup=False
        )
    with open_catalog(cfg) as cat:
        report = scan_run.run_scan(
            cfg, cat, [str(p) for p in paths] if paths else None, progress=RichProgress(), workers=workers
        )
    if json:
        emit_json(report.to_dict())
    else:
        print_scan(report)
    if strict and report.problems:
        raise typer.Exit(EXIT_PROBLEMS)


@app.command()
def inventory(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    format: Annotated[
        InventoryFormat | None,
        typer.Option("--format", "-f", help="md, json or html (default: from the --output name, else md)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    strict: StrictOpt = False,
) -> None:
    """Render the latest scan: per-root tables, formats, and the known issues."""
    from samdata.scan.inventory import NoScanError, build_inventory, render

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        try:
            inv = build_inventory(cat, cfg)
        except NoScanError as e:
            fail(str(e))
    if format is None:
        suffix = output.suffix.lower() if output else ""
        format = {
            ".html": InventoryFormat.html,
            ".htm": InventoryFormat.html,
            ".json": InventoryFormat.json,
        }.get(suffix, InventoryFormat.md)
    text = render(inv, format.value)
    if output:
        write_text_atomic(output, text)
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if strict and inv["problems"]:
        raise typer.Exit(EXIT_PROBLEMS)


@app.command()
def demo(
    directory: Annotated[
        Path | None, typer.Argument(help="New or empty folder (default: a temp folder).")
    ] = None,
    train: Annotated[
        bool,
        typer.Option("--train/--no-train", help="Train a tiny local model on the export (needs a backend)."),
    ] = True,
    json: JsonOpt = False,
) -> None:
    """Generate a demo estate, run every stage on it, and print where the catalog and reports are."""
    from samdata.cli.bars import CurateBar, IngestBar, RichProgress
    from samdata.demo import DemoError, run_demo

    try:
        result = run_demo(
            directory,
            progress=RichProgress(),
            ingest_progress=IngestBar(),
            train=train,
            curate_progress=CurateBar(),
        )
    except DemoError as e:
        fail(str(e))
    if json:
        payload = {
            "estate": str(result.estate.base),
            "config": str(result.estate.config_path),
            "catalog": str(result.catalog),
            "reports": {k: str(v) for k, v in result.reports.items()},
            "scan": result.scan.to_dict(),
            "ingest": result.ingest.to_dict(),
            "stats": result.stats,
            "curate": result.curate.to_dict(),
            "exports": {k: {"out": str(v.out_dir), "counts": v.counts} for k, v in result.exports.items()},
            "run": result.run,
            "train_skipped": result.train_skipped,
        }
        emit_json(payload)
        return
    print_scan(result.scan)
    print_ingest(result.ingest.to_dict())
    ex = result.stats["examples"]
    out.print(
        f"catalog holds {ex['total']:,} examples: "
        + ", ".join(f"{n:,} {k}" for k, n in ex["by_kind"].items())
    )
    print_funnel(result.curate.funnel)
    out.print(f"\nestate:    {result.estate.base}")
    out.print(f"config:    {result.estate.config_path}")
    out.print(f"catalog:   {result.catalog}")
    for fmt, path in result.reports.items():
        out.print(f"inventory: {path}" if fmt == "md" else f"           {path}")
    for name, exp in result.exports.items():
        c = exp.counts
        out.print(
            f"export:    {exp.out_dir} ({name}: {c['train']:,} train, {c['valid']:,} valid, {c['test']:,} test)"
        )
    if result.run:
        print_run(result.run)
        losses = [m["train_loss"] for m in result.run["metrics"] if m["train_loss"] is not None]
        if losses:
            out.print(
                f"  train loss {losses[0]:.4f} → {losses[-1]:.4f} over {result.run['config']['steps']} steps"
            )
    else:
        out.print(f"train:     skipped ({result.train_skipped})")
    cfg = result.estate.config_path
    out.print(f"\nnext: samdata inventory|stats|quarantine|secrets|runs --config '{cfg}'")
