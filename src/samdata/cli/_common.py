"""What every command shares: the app, consoles, options, catalog opening, bars, printers. It imports no
stage: a command imports the stage it runs, so `samdata scan` does not load curate's models."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from samdata import __version__
from samdata.catalog import Catalog, CatalogError
from samdata.config import Config, ConfigError, load_config
from samdata.engine import ENGINES, Engine, configured_engine
from samdata.paths import human_size

if TYPE_CHECKING:
    from samdata.scan.run import ScanReport

app = typer.Typer(
    name="samdata",
    help="Training data for SAM: scan → ingest → curate → export → train → report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: rich markup would eat `[curate]`-style section names and print `<bool>` for flags.
    rich_markup_mode=None,
)


out = Console(highlight=False, soft_wrap=True)


# Messages stay one line each when stderr is a log file (schedule, watch): a reason a person greps
# for must not be cut at 80 columns.
err = Console(stderr=True, highlight=False, soft_wrap=True)


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


EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help='Where stage work runs: "local" (worker processes) or "ray" ([engine] address, else a Ray'
        " started on this machine for the command). Default: [engine] kind.",
    ),
]


@contextmanager
def stage_engine(cfg: Config, kind: str | None, workers: int | None) -> Iterator[Engine | None]:
    """The engine of a command (None: the local one), or exit 2 with why it cannot start."""
    if kind is not None and kind not in ENGINES:
        fail(f"unknown engine {kind!r} (engines: {', '.join(ENGINES)})")
    with ExitStack() as stack:
        try:
            engine = stack.enter_context(configured_engine(cfg.engine, kind, workers))
        except ConnectionError as e:  # Ray's own text names its flags, not ours
            where = cfg.engine.address or os.environ.get("RAY_ADDRESS")
            fail(f"cannot reach the Ray cluster at {where!r} ([engine] address or RAY_ADDRESS): {e}"
                 " (start one with `ray start --head`, or leave address out for a Ray of this command)")  # fmt: skip
        except (ImportError, RuntimeError, ValueError) as e:  # ValueError: e.g. ray:// without ray[client]
            fail(f"cannot start the {kind or cfg.engine.kind} engine: {e}")
        if engine is not None:
            err.print(f"engine: {engine.name}, {engine.cpus} CPUs")
        yield engine


def locator_text(locator: dict[str, Any]) -> str:
    """A locator for people: `line 17`, `index 3, conversation_id abc`."""
    return ", ".join(f"{k} {v}" for k, v in locator.items())


def emit_json(value: object) -> None:
    """Machine-readable output for scripts: indented JSON on stdout."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)  # a message is text
    raise typer.Exit(code)


def load(path: Path | None, catalog: Path | None) -> Config:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        fail(str(e))
    if catalog is not None:
        cfg = cfg.model_copy(update={"catalog": catalog.absolute()})
    return cfg


def open_catalog(cfg: Config, write: bool | None = True) -> Catalog:
    """The catalog for a command: `write=False` opens it read-only (and never creates it), `None`
    writes if the file allows it (a command whose writes are housekeeping). Errors exit 2."""
    path = cfg.catalog_path
    if write is None:
        write = path.exists() and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    try:
        return Catalog.open(path, readonly=not write)
    except CatalogError as e:
        fail(str(e))


def bytes_bar() -> Progress:
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


def count_bar() -> Progress:
    """Description, bar, done/total count, elapsed and ETA on stderr; silent when not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


class CountBar:
    """A bar over a known number of items (export rows)."""

    def __init__(self, description: str) -> None:
        self.bar = count_bar()
        self.description = description
        self.task: TaskID | None = None
        self.bar.start()

    def start(self, total: int) -> None:
        self.task = self.bar.add_task(self.description, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.update(self.task, advance=n)

    def done(self) -> None:
        self.bar.stop()


def print_scan(report: ScanReport) -> None:
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
    for p in report.problems:
        if p.kind == "expiring_transcripts":  # data about to be deleted: said in full, not only counted
            err.print(f"[yellow]warning:[/] {escape(p.message)}; {escape(p.action)}", markup=True)


def print_ingest(summary: dict[str, Any]) -> None:
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


def print_funnel(funnel: dict[str, dict[str, int]]) -> None:
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


def print_run(run: dict[str, Any]) -> None:
    out.print(
        f"run #{run['id']} {run['status']}: {run['backend']} {run['mode']} on export #{run['export_id']}, "
        f"base {escape(run['base_model'])}"
    )
    if run["adapter_path"]:
        out.print(f"  adapter: {escape(run['adapter_path'])}")
    if run["error"]:
        out.print(f"  error:   {escape(run['error'])}")
    out.print(f"  log:     {escape(str(Path(run['job_dir']) / 'train.log'))}")


def losses(metrics: list[dict[str, Any]]) -> str:
    """`train 1.2345 valid 1.3456`: the latest logged value of each."""
    parts = []
    for name in ("train", "valid"):
        value = next((m[f"{name}_loss"] for m in reversed(metrics) if m[f"{name}_loss"] is not None), None)
        if value is not None:
            parts.append(f"{name} {value:.4f}")
    return " ".join(parts)


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
