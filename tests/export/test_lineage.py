"""Lineage: trace an example to its files and exports; forget it for good."""

from __future__ import annotations

from pathlib import Path

import orjson

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.demo import run_demo
from samdata.export import run_export
from samdata.ingest import run_ingest
from tests.test_cli import run_cli


def test_trace_and_forget(tmp_path: Path) -> None:
    demo = run_demo(tmp_path / "demo")
    cfg = str(demo.estate.config_path)
    config = load_config(cfg)
    with Catalog.open(config.catalog_path) as cat:
        [key_id] = cat.match_ids("AKIAQ3EGUFYP7XLMN2RT")
    # The Dolly rows are found by two sources ("dolly" and "public-sets"): both are traced.
    proc = run_cli("trace", key_id[:10], "--config", cfg, "--json")
    assert proc.returncode == 0, proc.stderr
    info = orjson.loads(proc.stdout)
    assert info["id"] == key_id and info["provenance"][0]["source"] == "sam-logs"
    assert info["provenance"][0]["locator"] == {"line": 1}
    assert [x["recipe"] for x in info["exports"]] == ["sam-sft", "sam-sft-trl"]
    split = info["exports"][0]["split"]
    assert split in ("train", "valid", "test") and info["exports"][1]["split"] == split
    # The demo trained on one of those exports: the run is in the lineage when it saw the example.
    seen = split in ("train", "valid")
    assert [r["run_id"] for r in info["runs"]] == ([demo.run["id"]] if seen else [])
    assert run_cli("trace", "0", "--config", cfg).returncode == 2  # ambiguous prefix

    dry = run_cli("forget", "--match", "AKIAQ3EGUFYP7XLMN2RT", "--config", cfg)
    assert "would be forgotten" in dry.stdout and "#1 sam-sft" in dry.stdout
    assert (f"seen by run #{demo.run['id']}" in dry.stdout) == seen
    assert run_cli("forget", "--match", "AKIAQ3EGUFYP7XLMN2RT", "--config", cfg, "--yes").returncode == 0
    with Catalog.open(config.catalog_path) as cat:
        assert cat.match_ids("AKIAQ3EGUFYP7XLMN2RT") == []
        assert (
            "AKIA"
            not in cat.conn.execute(
                "SELECT body_text(body) FROM examples WHERE id = ?", (key_id,)
            ).fetchone()[0]
        )
        assert cat.redacted_body(key_id) is None
        # Re-ingesting the same files does not bring it back, and no export holds it again.
        (demo.estate.roots["Internal"] / "sam/logs/capture_2025-11-01.jsonl").touch()
        run_ingest(config, cat)
        assert cat.trace(key_id)["forgotten"] is True
        again = run_export(config, cat, "sam-sft", tmp_path / "again")
        assert key_id not in cat.export_members(again.export_id)
    text = "".join((tmp_path / "again" / f"{s}.jsonl").read_text() for s in ("train", "valid", "test"))
    assert "AKIAQ3EGUFYP7XLMN2RT" not in text and "<AWS_ACCESS_KEY>" not in text
