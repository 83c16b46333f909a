"""The dashboard's app in this process (its writer thread included), and what its pages ask of a
client: the CSRF token of a state-changing request; and a curated demo catalog to serve."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from samdata.config import Config, load_config
from samdata.demo.estate import build_estate
from samdata.pipeline import run_pipeline
from samdata.serve import create_app


def client(config: Config) -> TestClient:
    """Use as a context manager (it runs the app's lifespan); Host is a loopback name."""
    return TestClient(create_app(config), base_url="http://127.0.0.1:8765")


def csrf_headers(http: TestClient) -> dict[str, str]:
    """The header a page's script sends with every decision, read from a page as a browser would."""
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', http.get("/").text)
    assert found
    return {"X-CSRF-Token": found.group(1)}


def curated_demo(folder: Path) -> Config:
    """The demo estate in `folder`, scanned, ingested and curated."""
    config = load_config(build_estate(folder).config_path)
    run_pipeline(config, stages=["scan", "ingest", "curate"])
    return config
