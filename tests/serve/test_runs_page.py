"""The dashboard's Runs pages. In-process, on runs recorded through the catalog's own methods: the
list, a run's loss curve (SVG points that are the losses, scaled onto the axes), the compare
overlay, the examples a run trained on, the Server-Sent Events stream (finished, live, resumed,
vanished) and 404s. In Chromium, against a real `samdata serve` and a REAL TRL run of the tiny
Qwen2 on the demo's `sam-sft-trl` export: the page opened while the run starts grows its
train-loss curve point by point from the stream and ends showing `completed`, with the curve the
server draws for the finished run.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from samdata.catalog import Catalog, utcnow
from samdata.config import load_config
from samdata.demo.estate import build_estate
from samdata.pipeline import run_pipeline
from samdata.train import TrainOptions, launch, prepare_run
from tests.serve.browser import watch
from tests.serve.inprocess import client as _client
from tests.serve.loadgen import Server

STEPS = 20
VOID = {"meta", "link", "input", "br", "img", "hr", "area", "base", "col", "embed", "source", "track", "wbr"}


class Elements(HTMLParser):
    """Every start tag as (tag, attributes), and the text of the elements with an id or data-label."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag in VOID:
            return
        key = a.get("id") or (f"label:{a['data-label']}" if "data-label" in a else "")
        if key:
            self.text[key] = ""
        self._open.append(key)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for key in self._open:
            if key:
                self.text[key] += data

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def _points(polyline: dict[str, str]) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in polyline["points"].split())]


def _train_losses(seed: float) -> list[float]:
    return [3.0 + seed + math.sin(step * seed) / 2 for step in range(1, STEPS + 1)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo estate through the whole pipeline, with runs recorded as the worker records them:
    two completed (with train losses every step, valid losses every 5), one failed without metrics."""
    config = load_config(build_estate(tmp_path_factory.mktemp("runs")).config_path)
    run_pipeline(config)
    runs: dict[str, int] = {}
    with Catalog.open(config.catalog_path) as cat:
        export_id = cat.conn.execute("SELECT id FROM exports WHERE recipe = 'sam-sft-trl'").fetchone()[0]
        for name, seed in (("a", 0.7), ("b", 1.3)):
            run_id = cat.create_run(backend="trl", mode="sft", base_model="/models/tiny", export_id=export_id,
                                    data_dir="/exports/sam-sft-trl", job_dir=f"/runs/{name}",
                                    config={"steps": STEPS, "learning_rate": 1e-3}, host="elsewhere", now=utcnow())  # fmt: skip
            assert cat.start_run(run_id, 12345, utcnow())
            for step, loss in enumerate(_train_losses(seed), 1):
                cat.log_metrics(run_id, step, utcnow(), train_loss=loss, tokens_per_second=1000.0 + step)
                if step % 5 == 0:
                    cat.log_metrics(run_id, step, utcnow(), valid_loss=4.0 - step / 10 * seed)
            assert cat.finish_run(run_id, "completed", utcnow(), adapter_path=f"/runs/{name}/adapter")
            runs[name] = run_id
        runs["failed"] = cat.create_run(backend="mlx", mode="sft", base_model="/models/tiny", export_id=export_id,
                                        data_dir="/exports/sam-sft", job_dir="/runs/f", config={"steps": 5},
                                        host="elsewhere", now=utcnow())  # fmt: skip
        cat.finish_run(runs["failed"], "failed", utcnow(), error="RuntimeError: <b>out of memory</b>")
    return {"config": config, "runs": runs, "export_id": export_id}


def _events(
    http: TestClient, url: str, headers: dict[str, str] | None = None, seen: Any = None
) -> list[tuple[str, Any]]:
    """(event, data) of an SSE stream, read until it closes (`seen` is called with each)."""
    out, event, data = [], None, []
    with http.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif not line and event:
                out.append((event, orjson.loads("\n".join(data))))
                if seen:
                    seen(*out[-1])
                event, data = None, []
    return out


def test_pages_list_runs_draw_losses_overlay_and_stream(demo: dict[str, Any]) -> None:
    config, runs, export_id = demo["config"], demo["runs"], demo["export_id"]
    http = _client(config)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        metrics = {name: cat.metrics(i) for name, i in runs.items()}
        members = cat.export_members(export_id)

    # The list: every run, its status, export link and recipe, checkboxes of a GET compare form.
    page = http.get("/runs")
    assert page.status_code == 200
    listing = Elements(page.text)
    assert listing.all("form", action="/runs/compare", method="get")
    assert {a["value"] for a in listing.all("input", type="checkbox", name="ids")} == {
        str(i) for i in runs.values()
    }
    for name, run_id in runs.items():
        row = page.text.split(f'id="run-{run_id}"')[1].split("</tr>")[0]
        assert (
            f'href="/runs/{run_id}"' in row and f'href="/exports/{export_id}"' in row and "sam-sft-trl" in row
        )
        assert ("failed" if name == "failed" else "completed") in row
    assert f"{_train_losses(0.7)[-1]:.4g}" in page.text and f"{STEPS} / {STEPS}" in page.text

    # A run: its train-loss polyline is its losses, scaled: x = step over 0..steps, y = loss over
    # min..max of train and valid losses (the axis labels), bottom to top.
    page = http.get(f"/runs/{runs['a']}")
    assert page.status_code == 200 and "style=" not in page.text and "<script>" not in page.text
    doc = Elements(page.text)
    (svg,) = doc.all("svg", id="loss-chart")
    left, right, top, bottom = (float(svg[f"data-{k}"]) for k in ("left", "right", "top", "bottom"))
    losses = [m[k] for m in metrics["a"] for k in ("train_loss", "valid_loss") if m[k] is not None]
    lo, hi = min(losses), max(losses)
    assert lo < min(m["train_loss"] for m in metrics["a"])  # a valid loss is the lowest
    (train,) = doc.all("polyline", **{"data-series": "train"})
    points = _points(train)
    assert len(points) == STEPS
    for (x, y), m in zip(points, metrics["a"], strict=True):
        assert x == pytest.approx(left + m["step"] / STEPS * (right - left), abs=0.01)
        assert y == pytest.approx(bottom - (m["train_loss"] - lo) / (hi - lo) * (bottom - top), abs=0.01)
    assert orjson.loads(train["data-values"]) == [[m["step"], m["train_loss"]] for m in metrics["a"]]
    assert doc.text["label:y-min"] == f"{lo:.4g}" and doc.text["label:y-max"] == f"{hi:.4g}"
    assert doc.text["label:x-min"] == "0" and doc.text["label:x-max"] == str(STEPS)
    (valid,) = doc.all("polyline", **{"data-series": "valid"})
    valid_rows = [m for m in metrics["a"] if m["valid_loss"] is not None]
    assert [m["step"] for m in valid_rows] == [5, 10, 15, 20]
    for (x, y), m in zip(_points(valid), valid_rows, strict=True):
        assert x == pytest.approx(left + m["step"] / STEPS * (right - left), abs=0.01)
        assert y == pytest.approx(bottom - (m["valid_loss"] - lo) / (hi - lo) * (bottom - top), abs=0.01)
    assert doc.text["run-status"] == "completed" and not doc.all("p", id="live")  # finished: no stream
    assert "/runs/a/adapter" in page.text and "0.001" in page.text
    # The examples it trained on: the first 50 of its export's train split, linked.
    shown = [a["href"].removeprefix("/examples/") for a in doc.all("a") if a["href"].startswith("/examples/")]
    train_split = sorted(i for i, s in members.items() if s == "train")
    assert shown == train_split[:50] and f"{len(train_split):,} examples in the train split" in page.text
    assert doc.all("a", href=f"/exports/{export_id}")

    # A failed run shows its error (escaped), with an empty chart.
    page = http.get(f"/runs/{runs['failed']}")
    doc = Elements(page.text)
    assert (
        doc.text["run-error"] == "RuntimeError: <b>out of memory</b>" and "<b>out of memory" not in page.text
    )
    assert doc.all("polyline", **{"data-series": "train"})[0]["points"] == ""

    # Compare: one polyline per run (valid losses as dots), the same scale for both, a legend.
    page = http.get(f"/runs/compare?ids={runs['a']}&ids={runs['b']}&ids=999")
    assert page.status_code == 200 and "style=" not in page.text
    doc = Elements(page.text)
    lines = doc.all("polyline")
    assert [line["data-series"] for line in lines] == [f"run-{runs['a']}", f"run-{runs['b']}"]
    assert len({line["stroke"] for line in lines}) == 2
    both = [m[k] for name in ("a", "b") for m in metrics[name] for k in ("train_loss", "valid_loss") if m[k]]
    (svg,) = doc.all("svg", id="compare-chart")
    assert float(svg["data-y-min"]) == min(both) and float(svg["data-y-max"]) == max(both)
    for line, name in zip(lines, ("a", "b"), strict=True):
        ys = [y for _, y in _points(line)]
        assert len(ys) == STEPS
        assert ys.index(max(ys)) == [m["train_loss"] for m in metrics[name]].index(
            min(m["train_loss"] for m in metrics[name])
        )  # the lowest loss is drawn lowest
    assert len(doc.all("circle")) == 8  # 4 valid losses each
    assert doc.all("a", href=f"/runs/{runs['a']}") and doc.all("a", href=f"/runs/{runs['b']}")
    assert "not in this catalog: #999" in page.text

    # The stream of a finished run: every metric row in step order, then done; resumable.
    events = _events(http, f"/runs/{runs['a']}/events")
    assert [e for e, _ in events] == ["metric"] * STEPS + ["done"]
    assert [d for _, d in events[:-1]] == metrics["a"]
    assert events[-1][1]["status"] == "completed" and events[-1][1]["adapter_path"] == "/runs/a/adapter"
    assert [d["step"] for e, d in _events(http, f"/runs/{runs['a']}/events?from=15") if e == "metric"] == [
        15, 16, 17, 18, 19, 20
    ]  # fmt: skip
    resumed = _events(http, f"/runs/{runs['a']}/events", {"Last-Event-ID": "18"})
    assert [d["step"] for e, d in resumed if e == "metric"] == [18, 19, 20]

    # Unknown runs.
    assert http.get("/runs/999").status_code == 404
    assert http.get("/runs/999/events").status_code == 404
    assert http.get("/runs/compare?ids=998&ids=999").status_code == 404
    assert http.get("/runs/compare").status_code == 404


def test_the_stream_follows_a_live_run_and_notices_a_vanished_one(demo: dict[str, Any]) -> None:
    config = demo["config"]
    with Catalog.open(config.catalog_path) as cat:
        run_id = cat.create_run(backend="trl", mode="sft", base_model="/m", export_id=demo["export_id"],
                                data_dir="/d", job_dir="/j", config={"steps": 4}, host=socket.gethostname(),
                                now=utcnow())  # fmt: skip
        cat.start_run(run_id, os.getpid(), utcnow())
        cat.log_metrics(run_id, 1, utcnow(), train_loss=2.0)
    page = Elements(_client(config).get(f"/runs/{run_id}").text)
    (live,) = page.all("p", id="live")
    assert live["data-events"] == f"/runs/{run_id}/events?from=1" and page.text["run-status"] == "running"

    sent_step_4 = threading.Event()

    def worker() -> None:  # as the training worker does, on its own connection
        with Catalog.open(config.catalog_path) as cat:
            for step in (2, 3, 4):
                time.sleep(0.3)
                cat.log_metrics(run_id, step, utcnow(), train_loss=2.0 - step / 10)
            sent_step_4.wait(10)
            cat.log_metrics(run_id, 4, utcnow(), valid_loss=1.5)  # the same step gains a value
            time.sleep(0.3)
            cat.finish_run(run_id, "completed", utcnow(), adapter_path="/j/adapter")

    thread = threading.Thread(target=worker)
    t0 = time.monotonic()
    thread.start()
    events = _events(_client(config), f"/runs/{run_id}/events?from=1",
                     seen=lambda e, d: e == "metric" and d["step"] == 4 and sent_step_4.set())  # fmt: skip
    thread.join()
    assert time.monotonic() - t0 > 1.0  # it waited for the rows as they came
    metrics = [(d["step"], d["train_loss"], d["valid_loss"]) for e, d in events if e == "metric"]
    assert metrics == [(1, 2.0, None), (2, 1.8, None), (3, 1.7, None), (4, 1.6, None), (4, 1.6, 1.5)]
    assert events[-1][0] == "done" and events[-1][1]["status"] == "completed"

    # A run whose process is gone ends the stream at once, said so (a read-only page marks nothing).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Catalog.open(config.catalog_path) as cat:
        gone = cat.create_run(backend="trl", mode="sft", base_model="/m", export_id=None, data_dir="/d",
                              job_dir="/j", config={"steps": 4}, host=socket.gethostname(), now=utcnow())  # fmt: skip
        cat.start_run(gone, dead.pid, utcnow())
    events = _events(_client(config), f"/runs/{gone}/events")
    assert events == [("done", {"status": "running", "started_at": events[0][1]["started_at"], "finished_at": None,
                                "error": None, "adapter_path": None, "vanished": True, "last_step": 0})]  # fmt: skip
    page = _client(config).get(f"/runs/{gone}")
    assert "its process is gone" in page.text.lower() and 'id="live"' not in page.text
    with Catalog.open(config.catalog_path) as cat:
        cat.finish_run(gone, "failed", utcnow(), error="test: gone")


# -- in Chromium, with a real training run -----------------------------------------------------


@pytest.fixture(scope="module")
def server(demo: dict[str, Any]) -> Iterator[Server]:
    with Server(demo["config"].config_path) as srv:
        yield srv


# Predicates as functions: Playwright runs those without eval, which the page's CSP forbids.
COUNT = "document.querySelector('polyline.curve-train').points.numberOfItems"
STATUS = "document.getElementById('run-status').dataset.status"
ENDED = f"() => {STATUS} !== 'running' && {STATUS} !== 'queued'"
# Every change the page makes, as it makes it: (points drawn, status). Sampling the page on
# animation frames instead could miss a whole run that a fast machine reports within one poll.
RECORD = f"""() => {{
  window.samdataSeen = [];
  const snap = () => window.samdataSeen.push([{COUNT}, {STATUS}]);
  new MutationObserver(snap).observe(document.body, {{subtree: true, childList: true, characterData: true,
                                                     attributes: true}});
  snap();
}}"""


def test_a_real_run_grows_its_curve_live_in_the_browser(
    demo: dict[str, Any],
    tiny_model: Path,
    server: Server,
    browser: Browser,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    config = demo["config"]
    # Small enough for two slow cores (the worker's imports take longer than its 30 steps), long
    # enough that the page is open well before the first step is reported.
    options = TrainOptions(steps=30, batch_size=1, max_seq_length=128, report_every=1, eval_every=10,
                           val_batches=2, lora_layers=2, learning_rate=1e-3)  # fmt: skip
    with Catalog.open(config.catalog_path) as cat:
        job = prepare_run(cat, str(config.export_dir("sam-sft-trl")), tiny_model, "trl", options)
        proc = launch(cat, job)
    tab = watch(browser)
    t0 = time.monotonic()
    try:
        tab.goto(f"{server.url}/runs/{job.run_id}")
        tab.page.evaluate(RECORD)
        at_load, status_at_load = tab.page.evaluate("() => window.samdataSeen[0]")
        assert status_at_load in ("queued", "running")
        # The worker's first imports of torch and TRL can take minutes on a cold disk.
        try:
            tab.page.wait_for_function(ENDED, timeout=300_000)
        except Exception as e:
            log = job.job_dir / "train.log"
            raise AssertionError(f"{e}\n{log.read_text()[-3000:] if log.exists() else 'no train.log'}") from e
        status = tab.page.evaluate(f"() => {STATUS}")
        assert status == "completed", (job.job_dir / "train.log").read_text()[-3000:]
        # Points arrived while it trained, and kept arriving: the curve grew while the page said running.
        seen = tab.page.evaluate("() => window.samdataSeen")
        growing = sorted({n for n, st in seen if st == "running" and n > at_load})
        assert len(growing) >= 2, seen
        assert proc.wait(30) == 0
        trained_s = time.monotonic() - t0
        drawn = tab.page.evaluate(
            "() => Array.from(document.querySelector('polyline.curve-train').points, p => [p.x, p.y])"
        )
        valid_drawn = tab.page.evaluate(
            "() => document.querySelector('polyline.curve-valid').points.numberOfItems"
        )
        assert tab.page.inner_text("[data-latest=step]") == "30"
        screens = Path(os.environ.get("SAMDATA_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
        screens.mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=screens / "run-live.png", full_page=True)
        # The list and the overlay load clean too; the list's checkboxes submit to the overlay.
        tab.goto(f"{server.url}/runs")
        for run_id in (demo["runs"]["a"], job.run_id):
            tab.page.check(f"input[name=ids][value='{run_id}']")
        tab.page.click("button[type=submit]")
        tab.page.wait_for_url("**/runs/compare?**")
        assert sorted(tab.page.url.split("?")[1].split("&")) == sorted(
            [f"ids={demo['runs']['a']}", f"ids={job.run_id}"]
        )
        assert tab.page.locator("#compare-chart polyline").count() == 2
        tab.page.screenshot(path=screens / "runs-compare.png", full_page=True)
        print(f"\nrun #{job.run_id}: trained and followed in {trained_s:.1f}s; screenshot in {screens}")
        tab.clean()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tab.page.context.close()
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        rows = [m for m in cat.metrics(job.run_id) if m["train_loss"] is not None]
        valid_rows = [m for m in cat.metrics(job.run_id) if m["valid_loss"] is not None]
    assert len(rows) == 30 and at_load < growing[0] < growing[-1] <= len(drawn) == len(rows)
    assert valid_drawn == len(valid_rows) == 3
    # What the page drew live is what the server draws for the finished run.
    served = Elements(_client(config).get(f"/runs/{job.run_id}").text).all(
        "polyline", **{"data-series": "train"}
    )
    flat = [v for point in _points(served[0]) for v in point]
    assert [v for point in drawn for v in point] == pytest.approx(flat, abs=0.011)
