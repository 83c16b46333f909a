"""`samdata run`: scan → ingest → curate → export (→ train) in one process, under a lock.

Every stage is idempotent and resumable on its own, so the pipeline only has to run them in order,
stop at the first failure with a one-line reason, and keep a history (`pipeline_runs`,
`pipeline_stages`). An export is written only when its inputs changed (recipe, data version,
samdata version) or its folder no longer holds what was recorded; a recipe with a `train` table is
trained after each fresh export. What changed since the last run is computed from totals the
previous run stored, so changes made by hand between runs are seen too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from samdata.catalog import Catalog, utcnow
from samdata.config import Config
from samdata.engine import Engine, configured_engine
from samdata.pipeline.lock import RunLock, RunLocked

__all__ = ["STAGES", "PipelineError", "PipelineReport", "RunLocked", "StageResult", "run_pipeline"]

STAGES = ("scan", "ingest", "curate", "export", "train")


class PipelineError(Exception):
    """A stage failed; the message is one line naming the stage and why."""


@dataclass
class StageResult:
    stage: str  # scan | ingest | curate | export:NAME | train:NAME
    status: str  # ok | skipped | failed | interrupted
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "status": self.status, "figures": self.figures, "error": self.error,
                "seconds": round(self.seconds, 3)}  # fmt: skip


@dataclass
class PipelineReport:
    run_id: int
    status: str = "running"
    stages: list[StageResult] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    killed_runs: list[int] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "error": self.error,
                "stages": [s.to_dict() for s in self.stages], "changes": self.changes,
                "warnings": self.warnings, "killed_runs": self.killed_runs,
                "elapsed_s": round(self.elapsed_s, 3)}  # fmt: skip


class _Skip(Exception):
    """A stage with nothing to do; the message says why."""

    def __init__(self, reason: str, **figures: Any) -> None:
        super().__init__(reason)
        self.figures = {"reason": reason, **figures}


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (
        f"{type(e).__name__}: {text[0]}" if text and not isinstance(e, PipelineError) else (text or [""])[0]
    )


def run_pipeline(
    config: Config,
    trigger: str = "cli",
    stages: Sequence[str] = STAGES,
    wait: float = 0,
    progress: Mapping[str, Any] | None = None,
    on_stage: Callable[[StageResult], None] | None = None,
    workers: int | None = None,
) -> PipelineReport:
    """Run `stages` (in pipeline order) under the catalog's run lock and record the run.

    `wait`: seconds to wait for another run to finish (0: raise `RunLocked` at once; a negative
    value waits for ever). `progress`: a progress object per stage name, as the stage's own
    `run_*` takes it. `on_stage` is called after each stage. Raises `PipelineError` (after
    recording it) when a stage fails; KeyboardInterrupt and SystemExit are recorded as
    'interrupted' and re-raised."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; the stages are {', '.join(STAGES)}")
    progress = progress or {}
    t0 = time.perf_counter()
    with (
        RunLock(config.catalog_path).hold(wait),
        Catalog.open(config.catalog_path) as cat,
        ExitStack() as engines,
    ):
        killed = cat.mark_killed_pipelines(utcnow())
        report = PipelineReport(cat.start_pipeline(trigger, os.getpid(), utcnow()), killed_runs=killed)
        seq = 0
        fresh_exports: set[str] = set()

        def stage(name: str, work: Callable[[], dict[str, Any]]) -> None:
            nonlocal seq
            seq += 1
            cat.start_stage(report.run_id, seq, name, utcnow())
            result = StageResult(name, "ok")
            t = time.perf_counter()
            try:
                result.figures = work()
            except _Skip as e:
                result.status, result.figures = "skipped", e.figures
            except (KeyboardInterrupt, SystemExit) as e:
                result.status, result.error = "interrupted", _one_line(e) if str(e) else type(e).__name__
                raise
            except Exception as e:
                result.status, result.error = "failed", _one_line(e)
                raise PipelineError(f"{name} failed: {result.error}") from e
            finally:
                result.seconds = time.perf_counter() - t
                cat.finish_stage(report.run_id, seq, result.status, result.figures, utcnow(), result.error)
                report.stages.append(result)
                if on_stage:
                    on_stage(result)

        started: list[Engine | None] = []

        def engine() -> Engine | None:
            """`[engine]`'s engine, started when a stage first needs it, shared by ingest and curate."""
            if not started:
                started.append(engines.enter_context(configured_engine(config.engine, workers=workers)))
            return started[0]

        try:
            if "scan" in stages:
                stage("scan", lambda: _scan(config, cat, progress.get("scan"), report))
            if "ingest" in stages:
                stage("ingest", lambda: _ingest(config, cat, progress.get("ingest"), engine))
            if "curate" in stages:
                stage("curate", lambda: _curate(config, cat, progress.get("curate"), workers, engine()))
            for name in config.recipes if "export" in stages else ():
                stage(
                    f"export:{name}",
                    lambda n=name: _export(config, cat, n, progress.get("export"), fresh_exports),
                )
                if "train" in stages and config.recipes[name].train is not None:
                    stage(f"train:{name}", lambda n=name: _train(config, cat, n, n in fresh_exports))
        except PipelineError as e:
            report.status, report.error = "failed", str(e)
        except (KeyboardInterrupt, SystemExit):
            report.status, report.error = "interrupted", "interrupted"
            _finish(cat, report, t0)
            raise
        else:
            report.status = "ok"
        _finish(cat, report, t0)
    if report.status == "failed":
        raise PipelineError(report.error or "failed")
    return report


def _finish(cat: Catalog, report: PipelineReport, t0: float) -> None:
    from samdata.pipeline.changes import changes_since

    snapshot = cat.snapshot()
    report.changes = changes_since(cat.last_snapshot(), snapshot, report)
    report.elapsed_s = time.perf_counter() - t0
    cat.finish_pipeline(report.run_id, report.status, report.changes, snapshot, utcnow(), report.error)


def _scan(config: Config, cat: Catalog, progress: Any, report: PipelineReport) -> dict[str, Any]:
    from samdata.scan.run import run_scan

    if not config.roots:
        raise _Skip("no roots configured")
    scan = run_scan(config, cat, progress=progress)
    report.warnings += [p.message for p in scan.problems if p.kind == "expiring_transcripts"]
    offline = [r["name"] for r in scan.roots if not r["online"]]
    return {**scan.counts(), "offline_roots": offline, "elapsed_s": round(scan.elapsed_s, 3)}


def _ingest(
    config: Config, cat: Catalog, progress: Any, engine_for: Callable[[], Engine | None]
) -> dict[str, Any]:
    from samdata.ingest import run_ingest

    if not config.sources:
        raise _Skip("no sources configured")
    engine = engine_for()  # only now: nothing to ingest starts no cluster
    summary = run_ingest(config, cat, progress=progress, engine=engine).to_dict()
    if summary["unaccounted"]:
        raise PipelineError(
            f"records read without an outcome in {len(summary['unaccounted'])} file(s), e.g. {summary['unaccounted'][0]}"
        )
    keys = ("files", "files_unchanged", "records", "produced", "examples_new", "quarantined", "skipped")
    return {**{k: summary[k] for k in keys}, "empty_sources": summary["empty_sources"], **_on(engine)}


def _curate(
    config: Config, cat: Catalog, progress: Any, workers: int | None, engine: Engine | None
) -> dict[str, Any]:
    from samdata.curate import run_curate

    curated = run_curate(config, cat, progress, workers=workers, engine=engine)
    from samdata.browse import stats_document

    stats_document(cat)  # stored for the dashboard's overview and /api/stats (until data changes)
    return {"labelled": max(curated.labelled.values(), default=0), "clusters": curated.clusters,
            "kept": curated.kept, **_on(engine),
            "elapsed_s": round(curated.elapsed_s, 3)}  # fmt: skip


def _on(engine: Engine | None) -> dict[str, Any]:
    """Where a stage ran, in its figures, when not on this machine's worker processes."""
    return {} if engine is None else {"engine": engine.name, "engine_cpus": engine.cpus}


def _export(config: Config, cat: Catalog, name: str, progress: Any, fresh: set[str]) -> dict[str, Any]:
    from samdata.export import current_export, remove_stale_stages, run_export

    out_dir = config.export_dir(name)
    remove_stale_stages(out_dir)  # an export killed after it was recorded is not written again
    same = current_export(config, cat, name, out_dir)
    if same is not None:
        raise _Skip("inputs unchanged", export_id=same, out=str(out_dir))
    result = run_export(config, cat, name, out_dir, progress=progress)
    fresh.add(name)
    return {"export_id": result.export_id, "out": str(out_dir), "counts": result.counts}


def _train(config: Config, cat: Catalog, name: str, fresh: bool) -> dict[str, Any]:
    from samdata.train import TrainOptions, launch, prepare_run

    if not fresh:
        raise _Skip("the export was not written anew")
    spec = config.recipes[name].train
    assert spec is not None
    options = TrainOptions(
        steps=spec.steps, learning_rate=spec.learning_rate, lora_rank=spec.lora_rank,
        lora_layers=spec.lora_layers, max_seq_length=spec.max_seq_length, mask_prompt=spec.mask_prompt,
    )  # fmt: skip
    job = prepare_run(cat, str(config.export_dir(name)), spec.model, spec.backend, options)
    proc = launch(cat, job)
    proc.wait()
    run = cat.run(job.run_id) or {}
    if run.get("status") != "completed":
        raise PipelineError(
            f"training run #{job.run_id} {run.get('status')}: {run.get('error') or 'see its log'}"
        )
    metrics = cat.metrics(job.run_id)

    def last(key: str) -> float | None:  # train and validation losses are logged on separate rows
        return next((m[key] for m in reversed(metrics) if m[key] is not None), None)

    return {"run_id": job.run_id, "steps": metrics[-1]["step"] if metrics else 0,
            "train_loss": last("train_loss"), "valid_loss": last("valid_loss")}  # fmt: skip
