"""The `samdata` command: parses arguments, calls the Python API, renders with rich. No logic here."""

from __future__ import annotations

import sys
import time
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from samdata import __version__
from samdata.browse import list_examples
from samdata.catalog import Catalog, CatalogError
from samdata.config import Config, ConfigError, load_config, write_starter_config
from samdata.curate import run_curate
from samdata.demo import DemoError, run_demo
from samdata.export import ExportError, run_export
from samdata.ingest import FileReport, IngestError, IngestProgress, run_ingest
from samdata.paths import human_size, write_text_atomic
from samdata.scan import run as scan_run
from samdata.scan.inventory import NoScanError, build_inventory, render
from samdata.train import TrainError, TrainOptions, launch, prepare_run, reconcile, stop_run

app = typer.Typer(
    name="samdata",
    help="Training data for SAM: scan → ingest → curate → export → train → report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="samdata.toml (default: $SAMDATA_CONFIG or ./samdata.toml)."),
]
CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="Catalog file (default: .samdata/catalog.db beside the config)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 1 when problems are found.")]


class InventoryFormat(StrEnum):
    md = "md"
    json = "json"
    html = "html"


def _where(locator: dict[str, Any]) -> str:
    """A locator for people: `line 17`, `index 3, conversation_id abc`."""
    return ", ".join(f"{k} {v}" for k, v in locator.items())


def _emit_json(value: object) -> None:
    """Machine-readable output for scripts: indented JSON on stdout."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def _config(path: Path | None, catalog: Path | None) -> Config:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        _fail(str(e))
    if catalog is not None:
        cfg = cfg.model_copy(update={"catalog": catalog.absolute()})
    return cfg


def _open_catalog(cfg: Config) -> Catalog:
    try:
        return Catalog.open(cfg.catalog_path)
    except CatalogError as e:
        _fail(str(e))


def _bytes_bar() -> Progress:
    """Description, bar, file count, bytes, speed and ETA on stderr; silent when not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


class _RichProgress(scan_run.Progress):
    """Progress bars on stderr while the scan walks and reads (silent when not a terminal)."""

    def __init__(self) -> None:
        self.bar = _bytes_bar()
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


def _print_scan(report: scan_run.ScanReport) -> None:
    for r in report.roots:
        state = "[green]online[/]" if r["online"] else "[red]offline[/]"
        out.print(f"{r['name']}: {r['path']} ({state})", markup=True)
    out.print(
        f"scan #{report.scan_id}: {report.files_seen:,} files seen, {report.files_read:,} read "
        f"({human_size(report.bytes_read)}), {report.files_deleted:,} gone, {report.elapsed_s:.1f} s"
    )
    if not report.problems:
        out.print("no problems found")
        return
    table = Table(title=f"{len(report.problems)} problems", title_justify="left")
    table.add_column("kind")
    table.add_column("severity")
    table.add_column("count", justify="right")
    for (kind, severity), n in sorted(Counter((p.kind, p.severity) for p in report.problems).items()):
        table.add_row(kind, severity, str(n))
    out.print(table)
    out.print("details: samdata inventory")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("samdata.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter samdata.toml."""
    try:
        written = write_starter_config(path, force=force)
    except ConfigError as e:
        _fail(str(e))
    out.print(f"wrote {written}; edit its roots, then run: samdata scan --config {written}")


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
    cfg = _config(config, catalog)
    for p in paths or []:
        if not p.exists() and not p.is_symlink():
            _fail(f"{p}: no such file or folder")
    with _open_catalog(cfg) as cat:
        report = scan_run.run_scan(
            cfg, cat, [str(p) for p in paths] if paths else None, progress=_RichProgress(), workers=workers
        )
    if json:
        _emit_json(report.to_dict())
    else:
        _print_scan(report)
    if strict and report.problems:
        raise typer.Exit(EXIT_PROBLEMS)


@app.command()
def inventory(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    format: Annotated[
        InventoryFormat, typer.Option("--format", "-f", help="md, json or html.")
    ] = InventoryFormat.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    strict: StrictOpt = False,
) -> None:
    """Render the latest scan: per-root tables, formats, and the known issues."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        try:
            inv = build_inventory(cat, cfg)
        except NoScanError as e:
            _fail(str(e))
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
    try:
        result = run_demo(directory, progress=_RichProgress(), ingest_progress=_IngestBar(), train=train)
    except DemoError as e:
        _fail(str(e))
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
        _emit_json(payload)
        return
    _print_scan(result.scan)
    _print_ingest(result.ingest.to_dict())
    ex = result.stats["examples"]
    out.print(
        f"catalog holds {ex['total']:,} examples: "
        + ", ".join(f"{n:,} {k}" for k, n in ex["by_kind"].items())
    )
    _print_funnel(result.curate.funnel)
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
        _print_run(result.run)
        losses = [m["train_loss"] for m in result.run["metrics"] if m["train_loss"] is not None]
        if losses:
            out.print(
                f"  train loss {losses[0]:.4f} → {losses[-1]:.4f} over {result.run['config']['steps']} steps"
            )
    else:
        out.print(f"train:     skipped ({result.train_skipped})")
    cfg = result.estate.config_path
    out.print(f"\nnext: samdata inventory|stats|quarantine|secrets|runs --config '{cfg}'")


class _IngestBar(IngestProgress):
    """A files/bytes progress bar for ingest (silent when not a terminal)."""

    def __init__(self) -> None:
        self.bar = _bytes_bar()
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


@app.command()
def ingest(
    sources: Annotated[list[str] | None, typer.Argument(help="Only these sources (default: all).")] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Exit 1 when records were quarantined or a source matched no file."),
    ] = False,
) -> None:
    """Turn every source into canonical examples with provenance; bad records go to quarantine.

    Every record read is accounted for: produced, quarantined or skipped on purpose, by reason. A
    file whose records are not all accounted for is an error (exit 1)."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        try:
            report = run_ingest(cfg, cat, sources or None, progress=_IngestBar())
        except IngestError as e:
            _fail(str(e))
    summary = report.to_dict()
    if json:
        _emit_json(summary)
    else:
        _print_ingest(summary)
    for name in summary["empty_sources"]:
        err.print(f"[yellow]warning:[/] source {escape(name)} matches no file (check its path)", markup=True)
    for path in summary["unaccounted"]:
        err.print(f"[bold red]error:[/] {escape(path)}: records read without an outcome (a bug: please report)",
                  markup=True)  # fmt: skip
    if summary["unaccounted"]:
        raise typer.Exit(EXIT_PROBLEMS)
    if strict and (summary["quarantined"] or summary["empty_sources"]):
        raise typer.Exit(EXIT_PROBLEMS)


def _print_ingest(summary: dict[str, Any]) -> None:
    table = Table(title=f"ingest run #{summary['run_id']}", title_justify="left")
    for col in ("source", "files", "records", "produced", "examples", "new", "quarantined", "skipped"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name, s in summary["sources"].items():
        table.add_row(
            escape(name),
            *(
                f"{s[k]:,}"
                for k in ("files", "records", "produced", "examples", "examples_new", "quarantined")
            ),
            f"{s['skipped']:,}",
        )
    out.print(table)
    # Files where something was left out, so nothing is silent.
    noted = [
        f for f in summary["files_detail"] if f["quarantined"] or f["skipped_by_reason"] or not f["balanced"]
    ]
    for f in noted[:20]:
        parts = [f"{f['produced']:,} of {f['records']:,} records produced"]
        if f["quarantined"]:
            parts.append(f"{f['quarantined']:,} quarantined")
        parts += [f"{n:,} skipped: {why}" for why, n in f["skipped_by_reason"].items()]
        out.print(f"  {escape(f['path'])}: " + "; ".join(escape(p) for p in parts))
    if len(noted) > 20:
        out.print(f"  … and {len(noted) - 20:,} more files (samdata stats --json has every file's account)")
    out.print(
        f"{summary['examples_new']:,} new examples from {summary['records']:,} records; "
        f"{summary['files_unchanged']:,} of {summary['files']:,} files unchanged; "
        f"{summary['quarantined']:,} quarantined, {summary['skipped']:,} skipped ({summary['elapsed_s']:.1f} s)"
    )
    if summary["quarantined"]:
        out.print("see: samdata quarantine")


@app.command()
def stats(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Examples by kind and by source, and quarantined records."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        figures = cat.ingest_stats()
        figures["curation"] = {
            "funnel": cat.funnel(),
            "quality_flags": cat.quality_flag_counts(),
            **cat.breakdowns(),
        }
    if json:
        _emit_json(figures)
        return
    ex = figures["examples"]
    out.print(f"{ex['total']:,} examples: " + ", ".join(f"{n:,} {k}" for k, n in ex["by_kind"].items()))
    table = Table(title_justify="left")
    cols = ("sft", "preference", "kto", "files", "records", "produced", "quarantined", "skipped")
    for col in ("source", *cols):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name, s in figures["sources"].items():
        table.add_row(escape(name), *(f"{s[k]:,}" for k in cols))
    out.print(table)
    for name, s in figures["sources"].items():
        for why, n in s["skipped_by_reason"].items():
            out.print(f"  {escape(name)}: {n:,} skipped: {escape(why)}")
        for path in s["unaccounted_files"]:
            out.print(
                f"  [bold red]{escape(name)}: {escape(path)} has records without an outcome[/]", markup=True
            )
    cur = figures["curation"]
    if cur["by_category"]:
        _print_funnel(cur["funnel"])
        for key in ("by_category", "by_language", "by_token_length"):
            out.print(
                f"{key.removeprefix('by_').replace('_', ' ')}: "
                + ", ".join(f"{k} {n:,}" for k, n in cur[key].items())
            )


@app.command()
def examples(
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="Only examples found in this source.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind: sft, preference or kto.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many (default: all).")] = None,
    unredacted: Annotated[
        bool,
        typer.Option("--unredacted", help="Show text as ingested, secrets included (default: redacted)."),
    ] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """The live examples (of a source): id, kind and turns; text redacted of secrets unless asked."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        if source is not None and source not in cat.source_names():
            _fail(f"no source {source!r} in the catalog (sources: {', '.join(cat.source_names()) or 'none'})")
        rows = list(list_examples(cfg, cat, source, kind, limit, redacted=not unredacted))
    if json:
        _emit_json({"examples": rows})
        return
    if not rows:
        out.print("no examples")
        return
    table = Table(title=f"{len(rows):,} examples", title_justify="left")
    for col in ("id", "kind", "turns", "text"):
        table.add_column(col)
    for r in rows:
        first = next(
            (m["content"] for m in r["messages"] if m["role"] == "user"),
            r["messages"][0]["content"] if r["messages"] else "",
        )
        table.add_row(
            r["id"], r["kind"], str(len(r["messages"]) + len(r.get("chosen") or [])), escape(first[:80])
        )
    out.print(table)


@app.command()
def quarantine(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    reason: Annotated[str | None, typer.Option(help="Only reasons containing this text.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="Records shown per reason.")] = 3,
) -> None:
    """Records that could not become examples, grouped by reason, with file and line."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        rows = cat.quarantined(reason, source)
    if json:
        _emit_json(rows)
        return
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_reason.setdefault(r["reason"], []).append(r)
    if not by_reason:
        out.print("nothing quarantined")
    for why, items in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        out.print(f"[bold]{len(items):,}[/] × {escape(why)}", markup=True)
        for r in items[:limit]:
            where = _where(r["locator"])
            out.print(
                f"    {escape(r['file'])} ({escape(where)}) \\[{escape(r['source'])}] {escape(r['snippet'][:80])}",
                markup=True,
            )


@app.command()
def curate(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Label every ingested example: secrets and personal data (redacted), quality flags; print the funnel."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        report = run_curate(cfg, cat)
    if json:
        _emit_json(report.to_dict())
        return
    out.print(
        "labelled: "
        + ", ".join(f"{n:,} by {d}" for d, n in report.labelled.items())
        + f" ({report.elapsed_s:.1f} s)"
    )
    _print_funnel(report.funnel)
    if report.flags:
        out.print("quality flags: " + ", ".join(f"{k} {n:,}" for k, n in report.flags.items()))


def _print_funnel(funnel: dict[str, dict[str, int]]) -> None:
    table = Table(
        title="ingested → near-dups removed → flagged by quality → with secrets (redacted) → kept",
        title_justify="left",
    )
    for col in ("source", "ingested", "near-dups removed", "quality flagged", "with secrets", "kept"):
        table.add_column(col, justify="left" if col == "source" else "right")

    def pct(n: int, total: int) -> str:
        return f"{n:,} ({n / total:.0%})" if total else "0"

    for name, f in funnel.items():
        table.add_row(
            name,
            f"{f['ingested']:,}",
            pct(f["near_dup_removed"], f["ingested"]),
            pct(f["quality_flagged"], f["ingested"]),
            pct(f["with_secrets"], f["ingested"]),
            pct(f["kept"], f["ingested"]),
        )
    out.print(table)


@app.command("export-diff")
def export_diff(
    a: Annotated[int, typer.Argument(help="The earlier export id.")],
    b: Annotated[int, typer.Argument(help="The later export id.")],
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """What entered, left, or changed split between two exports (ids from `samdata export`)."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        try:
            diff = cat.export_diff(a, b)
        except KeyError as e:
            _fail(f"no export #{e.args[0]}")
    if json:
        _emit_json(diff)
        return
    out.print(
        f"export #{a} → #{b}: {len(diff['entered']):,} entered, {len(diff['left']):,} left, "
        f"{len(diff['moved']):,} changed split, {diff['unchanged']:,} unchanged"
    )


@app.command()
def export(
    recipe: Annotated[str, typer.Argument(help="A [recipes.NAME] of the config (or `diff A B`).")],
    ids: Annotated[list[int] | None, typer.Argument(help="With `diff`: the two export ids.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for train/valid/test.jsonl and manifest.json.")
    ] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write a recipe's train/valid/test files and manifest; the same catalog gives the same bytes.
    `samdata export diff A B` says what entered, left or changed split between two exports."""
    if recipe == "diff" and ids:
        if len(ids) != 2:
            _fail("export diff takes two export ids: samdata export diff A B")
        export_diff(ids[0], ids[1], config, catalog, json)
        return
    if ids:
        _fail(f"unexpected arguments after the recipe name: {' '.join(map(str, ids))}")
    if out_dir is None:
        _fail("give the output folder: samdata export NAME --out DIR")
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        try:
            result = run_export(cfg, cat, recipe, out_dir.absolute())
        except ExportError as e:
            _fail(str(e))
    if json:
        payload = {"export_id": result.export_id, "out": str(result.out_dir), "counts": result.counts,
                   "dropped": result.manifest["dropped"], "files": result.manifest["files"]}  # fmt: skip
        _emit_json(payload)
        return
    c = result.counts
    out.print(
        f"export #{result.export_id} → {result.out_dir}: {c['train']:,} train, {c['valid']:,} valid, {c['test']:,} test"
    )
    for reason, n in result.manifest["dropped"].items():
        out.print(f"  left out {n:,}: {reason}")


@app.command()
def trace(
    example_id: Annotated[str, typer.Argument(help="An example id (or a unique prefix of one).")],
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """Where an example came from (every file and locator) and went (every export and split)."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        ids = cat.resolve_ids(example_id)
        if len(ids) != 1:
            _fail(
                f"{example_id!r} matches {len(ids) if len(ids) < 11 else 'more than 10'} examples; give more of the id"
            )
        info = cat.trace(ids[0])
    assert info is not None
    if json:
        _emit_json(info)
        return
    out.print(
        f"[bold]{info['id']}[/] {info['kind']}{' (forgotten)' if info['forgotten'] else ''}", markup=True
    )
    for p in info["provenance"]:
        where = _where(p["locator"])
        out.print(f"  from {escape(p['source'])}: {escape(p['file'])} ({escape(where)})")
    for x in info["exports"]:
        out.print(
            f"  in export #{x['export_id']} {escape(x['recipe'])} → {x['split']} ({escape(x['out_dir'])})"
        )
    if not info["exports"]:
        out.print("  in no export")
    for r in info["runs"]:
        out.print(
            f"  trained in run #{r['run_id']} ({r['backend']} {r['mode']}, {r['status']}) on export #{r['export_id']}"
        )


@app.command()
def forget(
    example_ids: Annotated[list[str] | None, typer.Argument(help="Example ids to forget.")] = None,
    match: Annotated[
        str | None, typer.Option("--match", help="Forget every example whose text contains this.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it (without it, only show what would be forgotten).")
    ] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Wipe examples from the catalog for good (re-ingest will not bring them back) and say where they went."""
    if not example_ids and not match:
        _fail("give example ids or --match TEXT")
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        ids = list(example_ids or [])
        if match:
            ids += cat.match_ids(match)
        traces = [t for t in (cat.trace(i) for i in sorted(set(ids))) if t is not None]
        for t in traces:
            exports = sorted({f"#{x['export_id']} {x['recipe']}" for x in t["exports"]})
            out.print(
                f"{t['id']} ({len(t['provenance'])} sources){' in exports ' + ', '.join(exports) if exports else ''}"
            )
        if not traces:
            out.print("nothing to forget")
            return
        for r in cat.runs_of_examples([t["id"] for t in traces]):
            adapter = f", adapter {escape(r['adapter_path'])}" if r["adapter_path"] else ""
            out.print(
                f"seen by run #{r['run_id']} ({r['backend']} {r['mode']}, {r['status']}, {r['examples']} of them{adapter})"
            )
        if not yes:
            out.print(f"{len(traces)} examples would be forgotten; run again with --yes")
            raise typer.Exit(EXIT_OK)
        n = cat.forget([t["id"] for t in traces])
    out.print(f"forgot {n} examples; exports and adapters made before keep them until re-made")


@app.command()
def dupes(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Near-duplicate clusters found by curate: the keeper and every member with its source and locator."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        clusters = cat.clusters()
    if json:
        _emit_json({"clusters": clusters})
        return
    if not clusters:
        out.print("no near-duplicate clusters (run `samdata curate` first if you have not)")
    for c in clusters:
        out.print(
            f"[bold]{c['keeper']}[/] keeps {len({m['id'] for m in c['members']})} examples:", markup=True
        )
        for m in c["members"]:
            mark = "keep" if m["id"] == c["keeper"] else "drop"
            where = _where(m["locator"])
            out.print(f"    {mark} {m['id']}  {escape(m['source'])} ({escape(where)})")


@app.command()
def secrets(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Secret and personal-data findings for review; add a finding's hash to [curate] allow to silence it."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        findings = cat.secret_findings()
    if json:
        _emit_json({"findings": findings})
        return
    if not findings:
        out.print("no findings (run `samdata curate` first if you have not)")
        return
    table = Table(title=f"{len(findings):,} findings", title_justify="left")
    for col in ("kind", "preview", "hash", "where", "source", "file"):
        table.add_column(col)
    for f in findings:
        where = f"{f['part']} " + _where(f["locator"])
        table.add_row(
            f["kind"], escape(f["preview"]), f["hash"], escape(where), escape(f["source"]), escape(f["file"])
        )
    out.print(table)


class Backend(StrEnum):
    mlx = "mlx"
    trl = "trl"


def _follow(cat: Catalog, run_id: int, steps: int, proc: Any) -> None:
    """A progress bar over the steps the worker has logged, until it exits."""
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.fields[losses]}"), TimeRemainingColumn(), console=err, transient=True,
        disable=not err.is_terminal,
    )  # fmt: skip
    with bar:
        task = bar.add_task(f"run #{run_id}", total=steps, losses="")
        while proc.poll() is None:
            time.sleep(0.5)
            metrics = cat.metrics(run_id)
            if metrics:
                bar.update(task, completed=metrics[-1]["step"], losses=_losses(metrics))


def _losses(metrics: list[dict[str, Any]]) -> str:
    """`train 1.2345 valid 1.3456`: the latest logged value of each."""
    parts = []
    for name in ("train", "valid"):
        value = next((m[f"{name}_loss"] for m in reversed(metrics) if m[f"{name}_loss"] is not None), None)
        if value is not None:
            parts.append(f"{name} {value:.4f}")
    return " ".join(parts)


def _print_run(run: dict[str, Any]) -> None:
    out.print(
        f"run #{run['id']} {run['status']}: {run['backend']} {run['mode']} on export #{run['export_id']}, "
        f"base {escape(run['base_model'])}"
    )
    if run["adapter_path"]:
        out.print(f"  adapter: {escape(run['adapter_path'])}")
    if run["error"]:
        out.print(f"  error:   {escape(run['error'])}")
    out.print(f"  log:     {escape(str(Path(run['job_dir']) / 'train.log'))}")


@app.command()
def train(
    export: Annotated[str, typer.Argument(help="An export folder, or an export id (3 or #3).")],
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Base model: a local folder (never downloaded).")
    ],
    backend: Annotated[
        Backend | None,
        typer.Option("--backend", "-b", help="mlx or trl (default: mlx on Apple silicon, else trl)."),
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = TrainOptions().steps,
    batch_size: Annotated[int | None, typer.Option(help="Default: the recipe's batch_size.")] = None,
    learning_rate: Annotated[float, typer.Option(help="Learning rate.")] = TrainOptions().learning_rate,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = TrainOptions().lora_rank,
    lora_layers: Annotated[
        int, typer.Option(help="mlx: top layers that get adapters.")
    ] = TrainOptions().lora_layers,
    max_seq_length: Annotated[
        int, typer.Option(help="Longest sequence in tokens.")
    ] = TrainOptions().max_seq_length,
    eval_every: Annotated[
        int, typer.Option(help="Steps between validation losses.")
    ] = TrainOptions().eval_every,
    report_every: Annotated[
        int, typer.Option(help="Steps between train-loss reports.")
    ] = TrainOptions().report_every,
    mask_prompt: Annotated[
        bool, typer.Option(help="mlx SFT: train on the last assistant turn only.")
    ] = False,
    job_dir: Annotated[
        Path | None, typer.Option(help="Job folder (default: runs/run-N beside the catalog).")
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Start the run and return at once.")] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train a LoRA adapter on an export; the run, its metrics and adapter are recorded in the catalog."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        reconcile(cat)
        try:
            options = TrainOptions(
                steps=steps, batch_size=batch_size, learning_rate=learning_rate, lora_rank=lora_rank,
                lora_layers=lora_layers, max_seq_length=max_seq_length, eval_every=eval_every,
                report_every=report_every, mask_prompt=mask_prompt,
            )  # fmt: skip
            job = prepare_run(cat, export, model, backend.value if backend else None, options, job_dir)
            proc = launch(cat, job)
        except (TrainError, ValidationError) as e:
            _fail(str(e))
        if detach:
            out.print(
                f"run #{job.run_id} started (pid {proc.pid}); `samdata runs show {job.run_id}` follows it"
            )
            return
        try:
            _follow(cat, job.run_id, options.steps, proc)
        except KeyboardInterrupt:
            err.print(f"stopping run #{job.run_id} …")
            stop_run(cat, job.run_id)
        proc.wait()
        run = cat.run(job.run_id)
        metrics = cat.metrics(job.run_id)
    assert run is not None
    if json:
        _emit_json({**run, "metrics": metrics})
    else:
        _print_run(run)
        if metrics:
            out.print(f"  steps:   {metrics[-1]['step']}, loss {_losses(metrics)}")
    if run["status"] != "completed":
        raise typer.Exit(EXIT_PROBLEMS)


runs_app = typer.Typer(help="Training runs: list, show, stop.", no_args_is_help=False)
app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context, config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False
) -> None:
    """Every training run, newest last (a run whose process vanished is marked failed first)."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        reconcile(cat)
        runs = cat.runs()
        last = {r["id"]: cat.metrics(r["id"])[-1:] for r in runs}
    if json:
        _emit_json({"runs": runs})
        return
    if not runs:
        out.print("no training runs yet (samdata train EXPORT --model PATH)")
        return
    table = Table(title=f"{len(runs)} runs", title_justify="left")
    for col in ("run", "status", "backend", "mode", "export", "base model", "steps", "train loss", "started"):
        table.add_column(col)
    for r in runs:
        m = last[r["id"]][0] if last[r["id"]] else {}
        loss = f"{m['train_loss']:.4f}" if m.get("train_loss") is not None else "-"
        table.add_row(
            str(r["id"]), r["status"], r["backend"], r["mode"], f"#{r['export_id']}",
            escape(Path(r["base_model"]).name), f"{m.get('step', 0)}/{r['config']['steps']}", loss,
            r["started_at"] or "-",
        )  # fmt: skip
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run number.")],
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """One run: settings, status, error, adapter, and every logged step."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        reconcile(cat)
        run = cat.run(run_id)
        metrics = cat.metrics(run_id)
    if run is None:
        _fail(f"no run #{run_id}")
    if json:
        _emit_json({**run, "metrics": metrics})
        return
    _print_run(run)
    out.print("  config:  " + escape(", ".join(f"{k}={v}" for k, v in sorted(run["config"].items()))))
    table = Table(title="metrics", title_justify="left")
    for col in ("step", "train loss", "valid loss", "tokens/s", "learning rate"):
        table.add_column(col, justify="right")
    for m in metrics:
        table.add_row(*(f"{m[k]:.4g}" if isinstance(m[k], float) else str(m[k] if m[k] is not None else "-")
                        for k in ("step", "train_loss", "valid_loss", "tokens_per_second", "learning_rate")))  # fmt: skip
    out.print(table)


@runs_app.command("stop")
def runs_stop(
    run_id: Annotated[int, typer.Argument(help="Run number.")],
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Stop a running training run (its adapter so far is kept if the trainer saved one)."""
    cfg = _config(config, catalog)
    with _open_catalog(cfg) as cat:
        try:
            status = stop_run(cat, run_id)
        except TrainError as e:
            _fail(str(e))
    out.print(f"run #{run_id}: {status}")


def _version(value: bool) -> None:
    if value:
        out.print(f"samdata {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """samdata: one tool for SAM's training data."""


def main() -> None:
    """Console-script entry point."""
    app()
