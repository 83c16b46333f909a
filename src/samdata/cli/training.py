"""`samdata train` and `runs`."""

from __future__ import annotations

import shlex
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from samdata.catalog import Catalog
from samdata.cli._common import (
    EXIT_PROBLEMS,
    CatalogOpt,
    ConfigOpt,
    JsonOpt,
    app,
    emit_json,
    err,
    fail,
    load,
    losses,
    open_catalog,
    out,
    print_run,
)
from samdata.config import Config
from samdata.train import TrainError, TrainJob, TrainOptions, launch, prepare_run, reconcile, stop_run


class Backend(StrEnum):
    mlx = "mlx"
    trl = "trl"
    rvc = "rvc"


def _follow(cat: Catalog, run_id: int, steps: int | None, proc: Any) -> None:
    """A progress bar over the steps the worker has logged, until it exits (`steps` None: an
    external trainer whose step count samdata does not know)."""
    count = TextColumn("{task.completed}/{task.total} steps" if steps else "step {task.completed}")
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), count, TextColumn("{task.fields[losses]}"),
        TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal,
    )  # fmt: skip
    with bar:
        task = bar.add_task(f"run #{run_id}", total=steps, losses="")
        while proc.poll() is None:
            time.sleep(0.5)
            metrics = cat.metrics(run_id)
            if metrics:
                bar.update(task, completed=metrics[-1]["step"], losses=losses(metrics))


def _short_command(run: dict[str, Any]) -> str:
    """`python train.py`: an rvc run's program and script, for a table cell."""
    args = run["config"].get("command") or [run["base_model"]]
    shown = [Path(args[0]).name]
    if len(args) > 1 and not args[1].startswith("-") and "{" not in args[1]:
        shown.append(Path(args[1]).name)
    return " ".join(shown)


def _print_run(run: dict[str, Any]) -> None:
    """print_run, with a voice run's package, speaker and command in place of export and base model."""
    if run["mode"] != "voice":
        print_run(run)
        return
    c = run["config"]
    out.print(f"run #{run['id']} {run['status']}: {run['backend']} voice of {escape(str(c.get('speaker')))} "
              f"on package {escape(run['data_dir'])}")  # fmt: skip
    out.print(f"  command: {escape(shlex.join(c.get('run_command') or c.get('command') or []))}")
    if run["adapter_path"]:
        out.print(f"  model:   {escape(run['adapter_path'])}")
    if run["error"]:
        out.print(f"  error:   {escape(run['error'])}")
    out.print(f"  log:     {escape(str(Path(run['job_dir']) / 'train.log'))}")


def _prepare_voice(cat: Catalog, cfg: Config, package: Path, job_dir: Path | None,
                   options: TrainOptions) -> TrainJob:  # fmt: skip
    """An rvc run's job; the text backends' settings are refused (the command's arguments set RVC's)."""
    from samdata.train.rvc_backend import prepare

    changed = [f"--{name.replace('_', '-')}" for name, value in options.model_dump().items()
               if value != TrainOptions.model_fields[name].default]  # fmt: skip
    if changed:
        raise TrainError(f"{', '.join(changed)}: settings of the text backends; an rvc run's are the "
                         "arguments of its [voice.rvc] command")  # fmt: skip
    return prepare(cat, cfg, package, job_dir)


@app.command()
def train(
    export: Annotated[
        str | None, typer.Argument(help="An export folder, or an export id (3 or #3); rvc: use --package.")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Base model: a local folder (never downloaded). Text backends."),
    ] = None,
    backend: Annotated[
        Backend | None,
        typer.Option(
            "--backend",
            "-b",
            help="mlx or trl (default: the one that reads the export's format); rvc with --package.",
        ),
    ] = None,
    package: Annotated[
        Path | None,
        typer.Option(
            "--package",
            help="rvc: a folder written by `samdata voice package`; runs the [voice.rvc] command on it.",
        ),
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
    """Train a LoRA adapter on an export (mlx, trl), or a voice model on a voice package (rvc: the
    [voice.rvc] command); the run, its metrics and adapter or model are recorded in the catalog."""
    voice = package is not None or backend == Backend.rvc
    if voice:
        if backend not in (None, Backend.rvc):
            fail(f"--package is a voice package: train it with --backend rvc ({backend} reads exports)")
        if package is None:
            fail(
                "--backend rvc trains on a voice package: give --package DIR (made by samdata voice package)"
            )
        if export is not None or model is not None:
            fail("--backend rvc takes --package DIR only: no export, no --model (the command names its own)")
    elif export is None:
        fail(
            "give an export (a folder or an id) and --model, or a voice package: --backend rvc --package DIR"
        )
    elif model is None:
        fail("--model is required: the local folder of a base model (samdata never downloads one)")
    cfg = load(config, catalog)
    with open_catalog(cfg) as cat:
        reconcile(cat)
        try:
            options = TrainOptions(
                steps=steps, batch_size=batch_size, learning_rate=learning_rate, lora_rank=lora_rank,
                lora_layers=lora_layers, max_seq_length=max_seq_length, eval_every=eval_every,
                report_every=report_every, mask_prompt=mask_prompt,
            )  # fmt: skip
            if voice:
                assert package is not None
                job = _prepare_voice(cat, cfg, package, job_dir, options)
            else:
                assert export is not None and model is not None
                job = prepare_run(cat, export, model, backend.value if backend else None, options, job_dir)
            proc = launch(cat, job)
        except (TrainError, ValidationError) as e:
            fail(str(e))
        if detach:
            out.print(
                f"run #{job.run_id} started (pid {proc.pid}); `samdata runs show {job.run_id}` follows it"
            )
            return
        try:
            _follow(cat, job.run_id, None if voice else options.steps, proc)
        except KeyboardInterrupt:
            err.print(f"stopping run #{job.run_id} …")
            stop_run(cat, job.run_id)
        proc.wait()
        run = cat.run(job.run_id)
        metrics = cat.metrics(job.run_id)
    assert run is not None
    if json:
        emit_json({**run, "metrics": metrics})
    else:
        _print_run(run)
        if metrics:
            out.print(f"  steps:   {metrics[-1]['step']}, loss {losses(metrics)}")
    if run["status"] != "completed":
        raise typer.Exit(EXIT_PROBLEMS)


runs_app = typer.Typer(help="Training runs: list, show, stop.", no_args_is_help=False)


app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs_list(
    ctx: typer.Context,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    pipeline: Annotated[
        bool, typer.Option("--pipeline", help="The `samdata run` history instead: stages, changes, errors.")
    ] = False,
    limit: Annotated[int, typer.Option(help="With --pipeline: how many of the newest runs.")] = 20,
) -> None:
    """Every training run, newest last (a run whose process vanished is marked failed first)."""
    if ctx.invoked_subcommand is not None:
        return
    if pipeline:
        from samdata.cli.pipeline import runs_pipeline

        runs_pipeline(config, catalog, json, limit)
        return
    cfg = load(config, catalog)
    with open_catalog(cfg, write=None) as cat:
        if not cat.readonly:
            reconcile(cat)
        runs = cat.runs()
        last = {r["id"]: cat.metrics(r["id"])[-1:] for r in runs}
    if json:
        emit_json({"runs": runs})
        return
    if not runs:
        out.print("no training runs yet (samdata train EXPORT --model PATH, or --backend rvc --package DIR)")
        return
    table = Table(title=f"{len(runs)} runs", title_justify="left")
    for col in ("run", "status", "backend", "mode", "export", "base model", "steps", "train loss", "started"):
        table.add_column(col)
    for r in runs:
        m = last[r["id"]][0] if last[r["id"]] else {}
        loss = f"{m['train_loss']:.4f}" if m.get("train_loss") is not None else "-"
        voice = r["mode"] == "voice"  # a voice run: its package and command, and no known step count
        table.add_row(
            str(r["id"]), r["status"], r["backend"], r["mode"],
            escape(Path(r["data_dir"]).name) if voice else f"#{r['export_id']}",
            escape(_short_command(r) if voice else Path(r["base_model"]).name),
            str(m.get("step", 0)) if voice else f"{m.get('step', 0)}/{r['config']['steps']}", loss,
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
    cfg = load(config, catalog)
    with open_catalog(cfg, write=None) as cat:
        if not cat.readonly:
            reconcile(cat)
        run = cat.run(run_id)
        metrics = cat.metrics(run_id)
    if run is None:
        fail(f"no run #{run_id}")
    if json:
        emit_json({**run, "metrics": metrics})
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
    cfg = load(config, catalog)
    with open_catalog(cfg) as cat:
        try:
            status = stop_run(cat, run_id)
        except TrainError as e:
            fail(str(e))
    out.print(f"run #{run_id}: {status}")
