"""The inventory: the JSON contract, the Markdown a person reads, and HTML that escapes names."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.demo.estate import Estate
from samdata.scan.inventory import build_inventory, render
from samdata.scan.run import ScanReport
from tests.conftest import config_for, scan
from tests.test_cli import run_cli


def test_json_contract_through_the_cli(estate: Estate, estate_scan: tuple[Config, ScanReport]) -> None:
    cfg = str(estate.config_path)
    assert run_cli("scan", "--config", cfg).returncode == 0
    proc = run_cli("inventory", "--config", cfg, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    inv = orjson.loads(proc.stdout)
    assert {"roots", "files", "problems"} <= set(inv)
    roots = {r["name"]: r for r in inv["roots"]}
    assert roots["Archive SSD"]["online"] is False and roots["Internal"]["online"] is True
    assert all({"name", "path", "online"} <= set(r) for r in inv["roots"])
    files = {f["path"]: f for f in inv["files"]}
    conv = str(estate.roots["Internal"] / "sam/training/sam_conversations.jsonl")
    assert files[conv]["format"] == "chat_jsonl" and files[conv]["records"] == 300
    assert files[conv]["size"] == os.path.getsize(conv)
    assert files[conv]["read_by"] == ["source:sam-conversations", "sam/pipeline/build_training_data.py"]
    for p in inv["problems"]:
        assert p["kind"] and all(os.path.isabs(x) for x in p["paths"])
    offline = next(p for p in inv["problems"] if p["kind"] == "offline_root")
    assert offline["root"] == "Archive SSD"


def test_markdown_reads_like_an_inventory(estate: Estate, estate_scan: tuple[Config, ScanReport]) -> None:
    config, report = estate_scan
    with Catalog.open(config.catalog_path) as cat:
        md = render(build_inventory(cat, config), "md")
    assert "| File | Size | Records | Format | Last updated | Read by |" in md
    for name in ("## Internal", "## David External", "## \\#1", "## Archive SSD"):
        assert name in md
    assert "**offline**" in md
    assert "| sam/dpo_pairs/ (18 files) |" in md  # a fragmented folder is one row, not 18
    assert "sam_conversations.jsonl | 136" in md or "sam_conversations.jsonl |" in md
    assert "source:sam-conversations" in md
    assert "197 (+3 bad)" in md
    assert "20 rows (training_examples 20)" in md
    assert "12.5 s" in md  # the MP4's duration
    known = md.split("## Known issues", 1)[1]
    assert known.count("**") // 2 == len(report.problems)
    for p in report.problems:
        assert f"**{p.kind}**" in known


def test_names_are_escaped_everywhere(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    evil = data / "<script>alert(1)<\u2044script> | *x*.jsonl"
    evil.write_text('{"text": "<img src=x onerror=alert(1)>"}\n')
    (data / "empty <u>.jsonl").touch()
    config = config_for(tmp_path, f'[[roots]]\nname = "<i>root</i>"\npath = "{data}"\n')
    scan(config)
    with Catalog.open(config.catalog_path) as cat:
        inv = build_inventory(cat, config)
    page = render(inv, "html")
    assert "<script>" not in page and "<i>root" not in page and "<u>" not in page
    assert "&lt;script&gt;alert(1)" in page and "&lt;i&gt;root&lt;/i&gt;" in page
    assert "Content-Security-Policy" in page and "<script" not in page.lower().replace("&lt;script", "")
    md = render(inv, "md")
    assert "\\<script\\>" in md and "\\| \\*x\\*" in md


def test_inventory_needs_a_scan(tmp_path: Path) -> None:
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(f'[[roots]]\nname = "r"\npath = "{tmp_path}"\n')
    proc = run_cli("inventory", "--config", str(cfg))
    assert proc.returncode == 2
    assert "run `samdata scan` first" in proc.stderr


def test_html_and_output_file(estate: Estate, estate_scan: tuple[Config, ScanReport], tmp_path: Path) -> None:
    out = tmp_path / "inv.html"
    proc = run_cli("inventory", "--config", str(estate.config_path), "-f", "html", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "Known issues" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    assert load_config(estate.config_path).roots[0].name in page
