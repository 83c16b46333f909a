"""`samdata browse`: the real Datasette (0.65) on the demo catalog, as `samdata.serve.datasette` sets it up.

In-process, through Datasette's own client: the denied tables and arbitrary SQL answer 403; the
allowed tables carry their descriptions, column notes and facets; every canned query runs on the
demo; a crawl of every page a person can reach shows no planted secret in clear, and writes nothing
to the catalog. Through the real CLI: it serves on a loopback port, and refuses any other host and
a missing catalog.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from samdata.catalog import connect
from samdata.config import Config, load_config
from samdata.demo.estate import build_estate
from samdata.pipeline import run_pipeline
from samdata.serve.datasette import DENIED, HIDDEN, QUERIES, TABLES, datasette_app
from tests.test_cli import run_cli

T = TypeVar("T")

# What the demo estate pastes into its records (samdata/demo/estate.py): an AWS key in a live
# capture, an e-mail address in another, a database password in a git commit's diff.
SECRETS = ("Tr0ub4dor-3", "AKIAQ3EGUFYP7XLMN2RT", "dana.w@example-family.org")
FINDING_KINDS = {"aws_access_key", "email", "database_url"}
# Spelled out rather than read from the module, so that dropping a name there fails here.
RAW = ("examples", "raw_records", "provenance", "provenance_paths", "capture_requests")
FACETS = {"files": {"root", "format", "kind"}, "findings": {"kind"}, "quarantine": {"source", "reason"}}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The demo estate scanned, ingested and curated: findings and redactions exist."""
    estate = build_estate(tmp_path_factory.mktemp("browse"))
    config = load_config(estate.config_path)
    run_pipeline(config, stages=["scan", "ingest", "curate"])
    return config


def _db(config: Config) -> str:
    return config.catalog_path.stem  # Datasette names a database after its file


def _browse(config: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    # A fresh Datasette per event loop: its asyncio primitives are bound to the loop that made them.
    return asyncio.run(work(datasette_app(config)))


def _get(config: Config, *paths: str) -> list[httpx.Response]:
    async def work(ds: Any) -> list[httpx.Response]:
        return [await ds.client.get(path) for path in paths]

    return _browse(config, work)


def _local(url: str) -> str:
    # Datasette's next_url is absolute (http://localhost/...); its client wants the path.
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def _crawl(ds: Any, db: str) -> dict[str, httpx.Response]:
    """Every page a person can reach: index, database, each table it lists, hidden ones too (HTML,
    and JSON up to three pages with labels expanded), the row pages of findings and redactions,
    and every canned query in HTML, JSON and CSV with every parameter value the demo has."""
    seen: dict[str, httpx.Response] = {}

    async def get(path: str) -> httpx.Response:
        seen[path] = r = await ds.client.get(path)
        return r

    for path in ("/", f"/{db}", "/-/metadata.json"):
        await get(path)
    # What Datasette lists (hidden tables too), not what the module means to allow.
    listed = [t["name"] for t in (await get(f"/{db}.json")).json()["tables"]]
    assert set(TABLES) | set(HIDDEN) <= set(listed)
    for table in listed:
        await get(f"/{db}/{table}")
        page = f"/{db}/{table}.json?_size=max&_labels=on"
        for _ in range(3):
            next_url = (await get(page)).json().get("next_url")
            if not next_url:
                break
            page = _local(next_url)
    sources = [s["name"] for s in (await get(f"/{db}/sources.json?_shape=array&_size=max")).json()]
    findings = (await get(f"/{db}/findings.json?_shape=array&_size=max")).json()
    for name in QUERIES:
        for suffix in ("", ".json", ".csv"):
            await get(f"/{db}/{name}{suffix}")
    for source in sources:
        for suffix in ("", ".json"):
            await get(f"/{db}/examples_of_source{suffix}?{urlencode({'source': source})}")
    for f in findings:
        await get(f"/{db}/example_origin?{urlencode({'id': f['example_id']})}")
        await get(f"/{db}/findings/{f['id']}")
        await get(f"/{db}/redactions/{f['example_id']}")
        await get(f"/{db}/redactions/{f['example_id']}.json")
    return seen


def _read(config: Config, sql: str) -> list[tuple[Any, ...]]:
    conn = connect(config.catalog_path)  # a plain sqlite3 connection that can read bodies
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_denied_tables_and_arbitrary_sql_are_forbidden(config: Config) -> None:
    db = _db(config)
    assert set(DENIED) >= set(RAW)
    paths = [f"/{db}/{t}{suffix}" for t in RAW for suffix in ("", ".json", ".csv", "/1", "/1.json")]
    arbitrary = [
        f"/{db}?sql=select+1",
        f"/{db}.json?sql=select+1",
        f"/{db}.json?sql=select+body+from+examples",
        f"/{db}/files?_where=1%3D1",  # _where is SQL too
        f"/{db}/files.json?_where=1%3D1",
        f"/{db}.db",  # the file itself
    ]
    *responses, listing, canned = _get(
        config,
        *paths,
        *arbitrary,
        f"/{db}.json",
        f"/{db}/secrets_to_review.json?sql=select+body+from+examples",
    )
    for path, r in zip([*paths, *arbitrary], responses, strict=True):
        assert r.status_code == 403, (path, r.status_code)
    assert listing.status_code == 200
    body = listing.json()
    assert body["allow_execute_sql"] is False
    assert not {t["name"] for t in body["tables"]} & set(RAW)
    # A canned query's page takes no SQL of its own: ?sql= is ignored, not run.
    assert canned.status_code == 200
    assert canned.json()["query"]["sql"] == QUERIES["secrets_to_review"]["sql"]


def test_allowed_tables_are_listed_with_their_descriptions_and_facets(config: Config) -> None:
    db = _db(config)
    tables = list(TABLES)
    listing, index, *pages = _get(
        config,
        f"/{db}.json",
        "/",
        *(f"/{db}/{t}" for t in tables),
        *(f"/{db}/{t}.json" for t in tables),
    )
    listed = {t["name"]: t for t in listing.json()["tables"]}
    assert set(TABLES) <= {name for name, t in listed.items() if not t["hidden"]}
    assert set(HIDDEN) <= {name for name, t in listed.items() if t["hidden"]}
    assert {q["name"] for q in listing.json()["queries"]} == set(QUERIES)
    assert "samdata catalog" in index.text and "Read-only." in html.unescape(index.text)
    for table, page, data in zip(tables, pages[: len(tables)], pages[len(tables) :], strict=True):
        spec = TABLES[table]
        assert page.status_code == 200 and data.status_code == 200, table
        text = html.unescape(page.text)
        assert spec["description"] in text, table
        for column, note in spec.get("columns", {}).items():
            assert f"<dt>{column}</dt><dd>{note}</dd>" in text, (table, column)
        facets = set(data.json()["facet_results"])
        assert facets == set(spec.get("facets", [])) and facets >= FACETS.get(table, set()), table
    files = pages[len(tables) + tables.index("files")].json()
    roots = {r["value"]: r["count"] for r in files["facet_results"]["root"]["results"]}
    assert roots.keys() == {"Internal", "David External", "#1"} and all(roots.values())


def test_canned_queries_run_on_the_demo_catalog(config: Config) -> None:
    db = _db(config)
    by_source, secrets, quarantine, logs, unscoped = (
        r.json()
        for r in _get(
            config,
            f"/{db}/examples_by_source.json?_shape=objects",
            f"/{db}/secrets_to_review.json?_shape=objects",
            f"/{db}/quarantine_by_reason.json?_shape=objects",
            f"/{db}/examples_of_source.json?_shape=objects&source=sam-logs",
            f"/{db}/examples_of_source.json?_shape=objects",
        )
    )
    for result in (by_source, secrets, quarantine, logs, unscoped):
        assert result["ok"] and result["error"] is None

    assert by_source["columns"] == ["source", "kind", "examples", "kept"]
    counts = {(r["source"], r["kind"]): r for r in by_source["rows"]}
    assert counts[("sam-logs", "sft")]["examples"] == 12
    assert counts[("dolly", "sft")]["examples"] == 120
    assert all(0 <= r["kept"] <= r["examples"] for r in by_source["rows"])

    assert secrets["columns"] == ["kind", "preview", "hash", "times", "examples", "an_example"]
    assert {r["kind"] for r in secrets["rows"]} == FINDING_KINDS
    assert sum(r["times"] for r in secrets["rows"]) == _read(config, "SELECT count(*) FROM findings")[0][0]

    assert quarantine["columns"] == ["reason", "source", "records", "files"]
    assert [(r["source"], r["records"], r["files"]) for r in quarantine["rows"]] == [("sam-captures", 3, 1)]

    assert logs["columns"] == ["id", "kind", "turns", "created_at", "body"]
    assert len(logs["rows"]) == 12
    key = next(r for r in secrets["rows"] if r["kind"] == "aws_access_key")["an_example"]
    assert "<AWS_ACCESS_KEY>" in next(r["body"] for r in logs["rows"] if r["id"] == key)
    assert unscoped["rows"] == []  # no source given: no examples, not all of them

    leaked_url = next(r for r in secrets["rows"] if r["kind"] == "database_url")["an_example"]
    origin, nowhere = (
        r.json()
        for r in _get(
            config,
            f"/{db}/example_origin.json?_shape=objects&id={leaked_url}",
            f"/{db}/example_origin.json?_shape=objects&id=0",
        )
    )
    assert origin["columns"] == ["source", "file", "locator", "ingest_run"]
    assert [r["source"] for r in origin["rows"]] == ["sam-code"]
    assert (
        origin["rows"][0]["file"].endswith("code/sam-assistant") and "commit" in origin["rows"][0]["locator"]
    )
    assert nowhere["rows"] == []


def test_no_planted_secret_is_served_in_clear(config: Config) -> None:
    # The secrets are in the raw bodies: the crawl below would find them if anything served those.
    for secret in SECRETS:
        assert (
            _read(config, f"SELECT count(*) FROM examples WHERE body_text(body) LIKE '%{secret}%'")[0][0] == 1
        )
    db = _db(config)
    pages = _browse(config, lambda ds: _crawl(ds, db))
    assert len(pages) > 80
    failed = {path: r.status_code for path, r in pages.items() if r.status_code != 200}
    assert not failed
    leaks = [
        (path, s) for path, r in pages.items() for s in SECRETS if s in r.text or s in html.unescape(r.text)
    ]
    assert not leaks
    # The crawl did read the examples that hold them, redacted.
    served = "".join(r.text for r in pages.values())
    for (example_id,) in _read(config, "SELECT DISTINCT example_id FROM findings"):
        assert example_id in pages[f"/{db}/redactions/{example_id}.json"].text
        assert served.count(example_id) > 2


def test_browsing_writes_nothing_to_the_catalog(config: Config) -> None:
    path = config.catalog_path
    wal = path.with_name(path.name + "-wal")
    counted = ("examples", "provenance", "labels", "findings", "redactions", "pipeline_runs")

    def state() -> tuple[Any, ...]:
        counts = tuple(_read(config, f"SELECT count(*) FROM {t}")[0][0] for t in counted)
        size = wal.stat().st_size if wal.exists() else 0
        return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, size, counts

    before = state()
    db = _db(config)

    async def work(ds: Any) -> list[int]:
        await _crawl(ds, db)
        # Its connections are opened read-only: even SQL run inside Datasette cannot write.
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await ds.get_database(db).execute_fn(lambda conn: conn.execute("CREATE TABLE probe (x)"))
        posts = [
            (f"/{db}/files", {"path": "/x"}),
            (f"/{db}/secrets_to_review", {}),
            (f"/{db}/examples_of_source", {"source": "sam-logs"}),
            (f"/{db}", {"sql": "DELETE FROM findings"}),
        ]
        return [(await ds.client.post(p, data=form)).status_code for p, form in posts]

    statuses = _browse(config, work)
    # Datasette 0.65 answers a POST to a read-only canned query with a 500: refused all the same.
    assert all(s >= 400 for s in statuses), statuses
    assert state() == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_cli_serves_the_catalog_on_loopback(config: Config, tmp_path: Path) -> None:
    db, port = _db(config), _free_port()
    log = tmp_path / "browse.log"
    env = {k: v for k, v in os.environ.items() if k != "SAMDATA_CONFIG"}
    argv = [
        sys.executable,
        "-m",
        "samdata",
        "browse",
        "--config",
        str(config.config_path),
        "--port",
        str(port),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            files = http.get(f"/{db}/files")
            denied = http.get(f"/{db}/examples.json")
            sql = http.get(f"/{db}.json", params={"sql": "select 1"})
        assert files.status_code == 200 and TABLES["files"]["description"] in html.unescape(files.text)
        assert denied.status_code == 403 and sql.status_code == 403
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn shuts down on SIGTERM, then re-raises it: -SIGTERM, not -SIGKILL, is a clean stop.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    assert f"on http://127.0.0.1:{port}" in log.read_text()


def test_the_cli_refuses_another_host_and_a_missing_catalog(config: Config, tmp_path: Path) -> None:
    wide = run_cli("browse", "--config", str(config.config_path), "--host", "0.0.0.0", "--port", "1")
    assert wide.returncode != 0
    assert "127.0.0.1" in " ".join(wide.stderr.split()) and "Traceback" not in wide.stderr

    absent = tmp_path / "absent.db"
    missing = run_cli("browse", "--config", str(config.config_path), "--catalog", str(absent))
    assert missing.returncode != 0
    assert "no catalog" in " ".join(missing.stderr.split()) and "Traceback" not in missing.stderr
    assert not absent.exists()  # refusing must not create an empty one
