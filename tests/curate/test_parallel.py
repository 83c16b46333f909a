"""Curate on every core gives the catalog one process gives: same labels, findings, redactions,
bands, pairs and clusters."""

from __future__ import annotations

from pathlib import Path

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.curate import run_curate
from samdata.demo.estate import build_estate
from samdata.ingest import run_ingest

TABLES = {
    "labels": "SELECT * FROM labels ORDER BY 1",
    "findings": "SELECT example_id, kind, part, span_start, span_end, hash, preview FROM findings ORDER BY 1, 3, 4",
    "redactions": "SELECT example_id, body FROM redactions ORDER BY 1",
    "lsh_index": "SELECT key, example FROM lsh_index ORDER BY 1, 2",
    "lsh_recent": "SELECT key, example FROM lsh_recent ORDER BY 1, 2",
    "lsh_pending": "SELECT key, example FROM lsh_pending ORDER BY 1, 2",
    "neardup_pairs": "SELECT a, b, jaccard FROM neardup_pairs ORDER BY 1, 2",
}


def _curated(tmp: Path, workers: int) -> tuple[dict[str, list[tuple]], dict]:
    estate = build_estate(tmp / f"estate-{workers}")
    config = load_config(estate.config_path)
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        report = run_curate(config, cat, workers=workers)
        tables = {name: [tuple(r) for r in cat.conn.execute(sql)] for name, sql in TABLES.items()}
    return tables, report.to_dict()


def test_two_workers_label_exactly_as_one(tmp_path: Path) -> None:
    one, report_one = _curated(tmp_path, 1)
    two, report_two = _curated(tmp_path, 2)
    assert len(one["labels"]) > 1000 and one["findings"] and one["neardup_pairs"]
    for name in TABLES:
        assert one[name] == two[name], name
    timing = ("elapsed_s", "seconds")
    assert {k: v for k, v in report_one.items() if k not in timing} == {
        k: v for k, v in report_two.items() if k not in timing
    }
