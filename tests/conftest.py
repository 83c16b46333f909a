"""Shared test helpers: where the real fixtures are, and a scanned demo estate."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from samdata.catalog import Catalog, _statements
from samdata.catalog.schema import MIGRATIONS
from samdata.config import Config, load_config, parse_config
from samdata.demo.estate import Estate, build_estate
from samdata.scan.run import ScanReport, run_scan

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("SAMDATA_FIXTURES", REPO.parent / "shared" / "fixtures" / "real"))


def real_fixtures() -> Path:
    """The real third-party samples, read in place. In CI their absence is a failure, not a skip."""
    if not FIXTURES.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"real fixtures missing at {FIXTURES} (CI must have ../shared)")
        pytest.skip(f"real fixtures not present at {FIXTURES}")
    return FIXTURES


def catalog_at(path: Path, version: int) -> sqlite3.Connection:
    """A catalog with the migrations up to `version` applied, as an older samdata left it (a plain
    connection: `Catalog.open` would migrate it the rest of the way)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")  # fmt: skip
    for number, name, sql in MIGRATIONS:
        if number > version:
            break
        conn.execute("BEGIN")
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (number, name))
        conn.execute("COMMIT")
    return conn


def config_for(tmp: Path, body: str) -> Config:
    """A config parsed as if it lived in `tmp` (catalog beside it)."""
    return parse_config(body, tmp / "samdata.toml")


def scan(config: Config, paths: list[str] | None = None, workers: int = 1) -> ScanReport:
    with Catalog.open(config.catalog_path) as cat:
        return run_scan(config, cat, paths, workers=workers)


@pytest.fixture(scope="session")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    """The demo estate, built once; tests that change it build their own."""
    return build_estate(tmp_path_factory.mktemp("estate"))


@pytest.fixture(scope="session")
def estate_scan(estate: Estate) -> tuple[Config, ScanReport]:
    config = load_config(estate.config_path)
    return config, scan(config, workers=2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 model + ChatML tokenizer, its BPE trained on real Dolly text (built, never downloaded)."""
    import json

    from samdata.train.tiny import build_tiny_model

    dolly = real_fixtures() / "dolly" / "databricks-dolly-15k.jsonl"
    with open(dolly) as f:
        texts = [json.loads(line)["response"] for line, _ in zip(f, range(2000), strict=False)]
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2-tiny", texts)
