"""`samdata run`, `schedule` and `watch`: the pipeline that keeps the estate current."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from samdata.cli._common import (
    EXIT_PROBLEMS,
    CatalogOpt,
    ConfigOpt,
    CountBar,
    JsonOpt,
    app,
    emit_json,
    err,
    fail,
    load,
    open_catalog,
    out,
)
from samdata.pipeline import STAGES, PipelineError, PipelineReport, RunLocked, StageResult, run_pipeline
from samdata.pipeline.changes import describe

EXIT_BUSY = 75  # EX_TEMPFAIL: another run holds the lock; try again later


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (launchd, systemd, kill) ends the run like Ctrl-C: recorded as interrupted."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stage_line(result: StageResult) -> str:
    f = result.figures
    detail = {
        "scan": lambda: (
            f"{f.get('files_seen', 0):,} files, {f.get('files_read', 0):,} read, {f.get('problems', 0):,} problems"
        ),
        "ingest": lambda: (
            f"{f.get('examples_new', 0):,} new examples from {f.get('records', 0):,} records, "
            f"{f.get('quarantined', 0):,} quarantined"
        ),
        "curate": lambda: f"{f.get('labelled', 0):,} labelled, {f.get('kept', 0):,} kept",
    }.get(result.stage.split(":")[0])
    if result.status == "skipped":
        text = f"skipped: {f.get('reason', '')}"
    elif result.status != "ok":
        text = f"{result.status}: {result.error or ''}"
    elif detail:
        text = detail()
    elif result.stage.startswith("export:"):
        c = f.get("counts", {})
        text = f"export #{f.get('export_id')}: {c.get('train', 0):,} train, {c.get('valid', 0):,} valid → {f.get('out')}"
    else:
        text = f"run #{f.get('run_id')}: {f.get('steps')} steps, train loss {f.get('train_loss')}"
    return f"{result.stage:<16} {text} ({result.seconds:.1f} s)"


@app.command()
def run(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--stage", help=f"Run only these stages ({', '.join(STAGES)}); repeatable."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for a run in progress (-1: for ever; default: exit at once)."),
    ] = 0,
    trigger: Annotated[str, typer.Option(hidden=True, help="Who started the run (schedule, watch).")] = "cli",
    workers: Annotated[
        int | None, typer.Option(help="Worker processes for curate (default: every core).")
    ] = None,
) -> None:
    """Scan, ingest, curate and export every recipe (and train those that ask), under a lock.

    An export is written only when its inputs changed. Prints what changed since the last run; a
    stage that fails stops the run and exits 1 with the reason; another run in progress exits 75."""
    cfg = load(config, catalog)
    stages = only or list(STAGES)
    bad = [s for s in stages if s not in STAGES]
    if bad:
        fail(f"unknown stage {bad[0]!r}; the stages are {', '.join(STAGES)}")
    from samdata.cli.bars import CurateBar, IngestBar, RichProgress

    bars = {} if json else {"scan": RichProgress(), "ingest": IngestBar(), "curate": CurateBar(),
                            "export": CountBar("export")}  # fmt: skip

    def show(result: StageResult) -> None:
        if not json:
            err.print(escape(_stage_line(result)))

    try:
        with _sigterm_interrupts():
            report = run_pipeline(cfg, trigger, stages, wait, bars, show, workers)
    except RunLocked as e:
        fail(str(e), EXIT_BUSY)
    except PipelineError as e:
        with open_catalog(cfg, write=False) as cat:
            last = cat.pipeline_runs(1)[-1]
        if json:
            emit_json(last)
        fail(str(e), EXIT_PROBLEMS)
    except KeyboardInterrupt:
        err.print("interrupted; the next run picks up where this one stopped")
        raise typer.Exit(130) from None
    if json:
        emit_json(report.to_dict())
        return
    _print_report(report)


def _print_report(report: PipelineReport) -> None:
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)
    if report.killed_runs:
        shown = ", ".join(f"#{i}" for i in report.killed_runs)
        out.print(f"earlier run {shown} was killed mid-way; this run completed its work")
    out.print(f"run #{report.run_id} ok in {report.elapsed_s:.1f} s")
    for line in describe(report.changes):
        out.print(f"  {escape(line)}")


def print_pipeline_runs(runs: list[dict[str, Any]]) -> None:
    """`samdata runs --pipeline`: one row per run, its stages in brief."""
    if not runs:
        out.print("no pipeline runs yet (samdata run)")
        return
    table = Table(title=f"{len(runs)} pipeline runs", title_justify="left")
    for col in ("run", "trigger", "status", "started", "seconds", "stages", "changes / error"):
        table.add_column(col)
    for r in runs:
        stages = " ".join(f"{s['stage']}:{s['status']}" for s in r["stages"])
        seconds = "-"
        if r["ended_at"]:
            from datetime import datetime

            seconds = f"{(datetime.fromisoformat(r['ended_at']) - datetime.fromisoformat(r['started_at'])).total_seconds():.0f}"
        note = r["error"] or "; ".join(describe(r["changes"]))
        table.add_row(
            str(r["id"]), r["trigger"], r["status"], r["started_at"], seconds, escape(stages), escape(note)
        )
    out.print(table)


schedule_app = typer.Typer(help="Run `samdata run` on a schedule: launchd (macOS), systemd (Linux) or cron.")
app.add_typer(schedule_app, name="schedule")


class Scheduler(StrEnum):
    auto = "auto"
    launchd = "launchd"
    systemd = "systemd"
    cron = "cron"


@schedule_app.command("install")
def schedule_install(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    every: Annotated[
        int | None,
        typer.Option("--every", help="Minutes between runs (default: [pipeline] interval_minutes)."),
    ] = None,
    kind: Annotated[
        Scheduler, typer.Option("--kind", help="Which scheduler (default: this system's).")
    ] = Scheduler.auto,
    activate: Annotated[
        bool,
        typer.Option(help="Load the job into launchd/systemd now (--no-activate: only write the files)."),
    ] = True,
) -> None:
    """Install a job that runs `samdata run --config FILE` every N minutes; its output goes to a log file."""
    from samdata.pipeline import schedule

    cfg = load(config, catalog)
    if cfg.config_path is None:
        fail("the schedule needs a config file: pass --config")
    try:
        done = schedule.install(cfg, every, None if kind == Scheduler.auto else kind.value, activate=activate)
    except schedule.ScheduleError as e:
        fail(str(e))
    for path in done.files:
        out.print(f"wrote {escape(str(path))}")
    if done.crontab_line:
        out.print("add this line to your crontab (crontab -e):")
        out.print(escape(done.crontab_line))
    for note in done.notes:
        out.print(escape(note))
    out.print(f"every {done.interval_minutes} min; log: {escape(str(cfg.run_log))}")


@schedule_app.command("remove")
def schedule_remove(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    activate: Annotated[bool, typer.Option(help="Unload the job from launchd/systemd too.")] = True,
) -> None:
    """Remove the job `schedule install` wrote for this config."""
    from samdata.pipeline import schedule

    cfg = load(config, catalog)
    removed = schedule.remove(cfg, activate=activate)
    if not removed:
        out.print("no schedule installed for this config")
    for path in removed:
        out.print(f"removed {escape(str(path))}")


@schedule_app.command("status")
def schedule_status(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Whether a schedule is installed, its interval, the last run and the next one."""
    from samdata.pipeline import schedule

    cfg = load(config, catalog)
    if cfg.catalog_path.exists():
        with open_catalog(cfg, write=None) as cat:
            status = schedule.status(cfg, cat)
    else:
        status = schedule.status(cfg, None)
    if json:
        emit_json(status)
        return
    if not status["installed"]:
        out.print("no schedule installed for this config (samdata schedule install)")
    else:
        out.print(f"installed ({status['kind']}): every {status['interval_minutes']} min; files: "
                  + ", ".join(escape(p) for p in status["files"]))  # fmt: skip
    last = status["last_run"]
    out.print(
        f"last run: #{last['id']} {last['status']} at {last['started_at']}" if last else "last run: none yet"
    )
    if status["next_run"]:
        out.print(f"next run: about {status['next_run']}")
    out.print(f"log: {escape(status['log'])}")


@app.command()
def watch(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    debounce_ms: Annotated[
        int | None, typer.Option(help="Quiet time before acting (default: [pipeline] debounce_ms).")
    ] = None,
) -> None:
    """Watch the roots and sources; ingest new or grown files and curate them as they settle.

    A drive that is unplugged is waited for and picked up again when it comes back. Ctrl-C stops."""
    from samdata.pipeline.watch import watch as run_watch

    cfg = load(config, catalog)

    def said(event: str, detail: dict[str, Any]) -> None:
        if event == "pass":
            lines = describe(detail.get("changes", {}))
            err.print(f"{detail.get('reason', 'change')}: " + "; ".join(lines))
        elif event == "error":
            err.print(f"[bold red]error:[/] {escape(detail['error'])}", markup=True)
        else:
            err.print(f"{event}: {escape(', '.join(detail.get('paths', [])))}")

    err.print(f"watching {len(cfg.roots)} roots and {len(cfg.sources)} sources (Ctrl-C stops)")
    try:
        with _sigterm_interrupts():
            run_watch(cfg, on_event=said, debounce_ms=debounce_ms)
    except KeyboardInterrupt:
        err.print("stopped")


def runs_pipeline(config: ConfigOpt, catalog: CatalogOpt, json: bool, limit: int = 20) -> None:
    """The body of `samdata runs --pipeline`."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        runs = cat.pipeline_runs(limit)
    if json:
        emit_json({"runs": runs})
    else:
        print_pipeline_runs(runs)
