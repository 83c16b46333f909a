"""The dashboard's Runs pages: every training run, one run's details and loss curve (live while it
trains, through a Server-Sent Events stream), and several runs' curves overlaid.

Curves are SVG drawn here (presentation attributes and classes only: the CSP forbids inline
styles); static/runs.js appends the points a live run reports. The stream polls the catalog
read-only, so a page never writes: a run whose process vanished is reported as such on the page,
and marked failed by the next `samdata runs`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from samdata.catalog import Catalog
from samdata.serve.api import read_catalog
from samdata.serve.pages import render
from samdata.train import vanished

router = APIRouter(include_in_schema=False)

LIVE = ("queued", "running")
POLL_S = 0.5  # how often a live stream looks for new metric rows
STREAM_S = 600.0  # a stream ends after this long; EventSource reconnects with Last-Event-ID
HEARTBEAT_S = 15.0
DONE_FIELDS = ("status", "started_at", "finished_at", "error", "adapter_path")
EXAMPLES_SHOWN = 50
MAX_COMPARED = 12
# Series colours (presentation attributes, not styles): train, valid, then one per compared run.
TRAIN, VALID = "#0b5fff", "#b3261e"
PALETTE = ("#0b5fff", "#b3261e", "#1a7f37", "#a15c00", "#8250df", "#0a7e8c", "#d1246e", "#57606a",
           "#6b8e23", "#1f3a93", "#c2410c", "#7c3aed")  # fmt: skip

# Plot geometry (SVG user units).
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 64, WIDTH - 16, 16, HEIGHT - 40


# -- charts -----------------------------------------------------------------------------------


@dataclass
class Series:
    name: str  # "train", "valid", or "run-3"
    label: str
    color: str
    values: list[tuple[int, float]]  # (step, loss), by step
    dashed: bool = False
    dots: bool = False  # drawn as circles, not a polyline
    points: str = ""  # SVG polyline points
    marks: list[tuple[float, float]] = field(default_factory=list)  # (x, y) of each value

    @property
    def values_json(self) -> str:
        return orjson.dumps(self.values).decode()


@dataclass
class Chart:
    series: list[Series]
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    empty: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM

    def x(self, step: float) -> float:
        return self.left + (step - self.x_min) / (self.x_max - self.x_min) * (self.right - self.left)

    def y(self, loss: float) -> float:
        return self.bottom - (loss - self.y_min) / (self.y_max - self.y_min) * (self.bottom - self.top)


def _label(value: float) -> str:
    """An axis label: four significant digits (runs.js formats the same way)."""
    return f"{value:.4g}"


def loss_domain(losses: Sequence[float]) -> tuple[float, float]:
    """The y range: exactly the losses' min and max, widened when they are one value (or none)."""
    if not losses:
        return 0.0, 1.0
    lo, hi = min(losses), max(losses)
    if lo == hi:
        pad = max(abs(lo) * 0.05, 0.05)
        return lo - pad, hi + pad
    return lo, hi


def chart(series: list[Series], steps: int) -> Chart:
    """Series drawn on one set of axes: x from step 0 to `steps` (or the last step logged, if
    later), y across every loss shown."""
    all_values = [v for s in series for v in s.values]
    x_max = max([steps, 1, *(step for step, _ in all_values)])
    y_min, y_max = loss_domain([loss for _, loss in all_values])
    c = Chart(series, 0.0, float(x_max), y_min, y_max, empty=not all_values)
    for s in series:
        s.marks = [(round(c.x(step), 2), round(c.y(loss), 2)) for step, loss in s.values]
        s.points = " ".join(f"{x:g},{y:g}" for x, y in s.marks)
    return c


def _values(metrics: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(m["step"]), float(m[key])) for m in metrics if m[key] is not None]


# -- runs -------------------------------------------------------------------------------------


def _missing(request: Request, what: str) -> HTMLResponse:
    return render(request, "runs_missing.html", 404, title="Not found", page="runs", what=what)


@router.get("/runs", response_class=HTMLResponse)
def runs_index(request: Request) -> HTMLResponse:
    with read_catalog(request) as cat:
        runs = cat.runs_overview()
    for run in runs:
        run["vanished"] = vanished(run)
    return render(request, "runs.html", title="Runs", page="runs", runs=list(reversed(runs)))


@router.get("/runs/compare", response_class=HTMLResponse)
def runs_compare(request: Request, ids: Annotated[list[int], Query()] = []) -> HTMLResponse:  # noqa: B006
    wanted = list(dict.fromkeys(ids))
    with read_catalog(request) as cat:
        runs = cat.runs_overview(wanted[:MAX_COMPARED])
        metrics = {run["id"]: cat.metrics(run["id"]) for run in runs}
    if not runs:
        what = ", ".join(f"#{i}" for i in wanted) if wanted else "(none chosen)"
        return _missing(request, f"runs {what}")
    found = {run["id"] for run in runs}
    series = []
    for i, run in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        train = Series(f"run-{run['id']}", f"#{run['id']}", color, _values(metrics[run["id"]], "train_loss"))
        valid = Series(f"run-{run['id']}-valid", f"#{run['id']} valid", color,
                       _values(metrics[run["id"]], "valid_loss"), dots=True)  # fmt: skip
        series.append((run, train, valid))
    steps = max(int(run["config"].get("steps") or 0) for run in runs)
    plot = chart([s for _, train, valid in series for s in (train, valid)], steps)
    return render(request, "runs_compare.html", title="Compare runs", page="runs", plot=plot, series=series,
                   unknown=[i for i in wanted[:MAX_COMPARED] if i not in found],
                   dropped=wanted[MAX_COMPARED:], max_compared=MAX_COMPARED, label=_label)  # fmt: skip


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_detail(request: Request, run_id: int) -> HTMLResponse:
    with read_catalog(request) as cat:
        found = cat.runs_overview([run_id])
        if not found:
            return _missing(request, f"run #{run_id}")
        run = found[0]
        metrics = cat.metrics(run_id)
        examples = (
            cat.export_split_examples(run["export_id"], "train", EXAMPLES_SHOWN) if run["export_id"] else None
        )
    run["vanished"] = vanished(run)
    train = Series("train", "train loss", TRAIN, _values(metrics, "train_loss"))
    valid = Series("valid", "valid loss", VALID, _values(metrics, "valid_loss"), dashed=True)
    plot = chart([train, valid], int(run["config"].get("steps") or 0))
    last = metrics[-1] if metrics else None
    live = run["status"] in LIVE and not run["vanished"]
    events = f"/runs/{run_id}/events?from={last['step'] if last else 0}" if live else None
    rate = next(
        (m["tokens_per_second"] for m in reversed(metrics) if m["tokens_per_second"] is not None), None
    )
    return render(request, "runs_detail.html", title=f"Run #{run_id}", page="runs", run=run, plot=plot,
                   last=last, rate=rate, events=events, examples=examples, label=_label)  # fmt: skip


# -- live updates -----------------------------------------------------------------------------


def _sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {orjson.dumps(data).decode()}\n\n".encode()


def _poll(path: Path, run_id: int, since: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]], bool]:
    """The run, its metric rows from step `since`, and whether its process vanished. The run is read
    before the rows: rows logged before it ended are then all in what is read after."""
    with Catalog.open(path, readonly=True) as cat:
        run = cat.run(run_id)
        if run is None:
            return None, [], False
        rows = cat.metrics_from(run_id, since)
        gone = vanished(run)
        if gone:  # it may have finished between the read and the check
            latest = cat.run(run_id)
            if latest is not None and latest["status"] not in LIVE:
                run, rows, gone = latest, cat.metrics_from(run_id, since), False
    return run, rows, gone


@router.get("/runs/{run_id}/events")
async def run_events(
    request: Request,
    run_id: int,
    since: Annotated[int, Query(alias="from", ge=0)] = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """`event: metric` for each metric row from step `from` (again when a row gains a value), then
    `event: done` with the run's final status once it is no longer queued or running."""
    path = request.app.state.config.catalog_path
    if last_event_id is not None and last_event_id.strip().isdigit():
        since = max(since, int(last_event_id))
    first = await run_in_threadpool(_poll, path, run_id, since)
    if first[0] is None:
        return JSONResponse({"error": f"no run #{run_id}"}, 404)

    async def stream() -> AsyncIterator[bytes]:
        cursor, sent = since, {}  # step → the row as last sent
        started = beat = time.monotonic()
        run, rows, gone = first
        yield b"retry: 2000\n\n"
        while True:
            for row in rows:
                step = int(row["step"])
                if sent.get(step) != row:
                    sent[step] = row
                    yield _sse("metric", row, step)
                cursor = max(cursor, step)
            if run is None or run["status"] not in LIVE or gone:
                end = {k: run[k] for k in DONE_FIELDS} if run else {"status": "missing"}
                yield _sse("done", {**end, "vanished": gone, "last_step": cursor})
                return
            now = time.monotonic()
            if now - started > STREAM_S or await request.is_disconnected():
                return
            if now - beat > HEARTBEAT_S:  # a comment: a gone client fails the send and ends the stream
                beat = now
                yield b": alive\n\n"
            await asyncio.sleep(POLL_S)
            run, rows, gone = await run_in_threadpool(_poll, path, run_id, cursor)

    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
