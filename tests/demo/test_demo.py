"""`samdata demo` and the README's promise: two commands do all set-up."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest

from samdata.demo import DemoError, run_demo
from tests.conftest import REPO
from tests.test_cli import run_cli


def test_demo_writes_catalog_and_reports(tmp_path: Path) -> None:
    proc = run_cli("demo", str(tmp_path / "demo"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = orjson.loads(proc.stdout)
    assert Path(out["catalog"]).is_file()
    for fmt in ("md", "json", "html"):
        assert Path(out["reports"][fmt]).stat().st_size > 1000
    inv = orjson.loads(Path(out["reports"]["json"]).read_bytes())
    assert len({p["kind"] for p in inv["problems"]}) == 11
    assert out["scan"]["files_seen"] == len(inv["files"])
    # Every configured source was ingested: the backup's 5,000 lines hold 1,000 distinct examples,
    # the git repository's 4 commits are 4 examples, the truncated captures are quarantined.
    sources = out["stats"]["sources"]
    assert sources["backup"]["sft"] == 1000
    assert sources["sam-code"]["sft"] == 4
    assert sources["sam-captures"]["quarantined"] == 3 and sources["sam-captures"]["sft"] == 197
    assert sources["sam-escalations"]["sft"] == 20 and sources["distillation"]["sft"] == 150
    assert sources["sam-corrections"]["preference"] == 40 and sources["sam-dpo-pairs"]["preference"] == 18
    assert out["ingest"]["examples_new"] == out["stats"]["examples"]["total"]
    # …and the whole path ends in a recorded training run of the tiny local model.
    run = out["run"]
    assert run["status"] == "completed", run["error"]
    assert run["export_id"] and Path(run["adapter_path"]).is_dir() and Path(run["base_model"]).is_dir()
    assert max(m["step"] for m in run["metrics"]) == 10


def test_demo_refuses_a_folder_with_things_in_it(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DemoError, match="not empty"):
        run_demo(tmp_path)
    assert run_cli("demo", str(tmp_path)).returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_demo_default_folder_and_human_output() -> None:
    proc = run_cli("demo", "--no-train")
    assert proc.returncode == 0, proc.stderr
    assert "train:     skipped (not asked for)" in proc.stdout
    assert "catalog:" in proc.stdout and "inventory:" in proc.stdout
    catalog = re.search(r"catalog:\s+(\S.*)", proc.stdout).group(1).strip()
    assert Path(catalog).is_file()
    estate = Path(re.search(r"estate:\s+(\S.*)", proc.stdout).group(1).strip())
    assert estate.name.startswith("samdata-demo-")
    shutil.rmtree(estate)


def test_readme_starts_with_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```[^\n]*\n(.*?)```", readme, re.S).group(1)
    assert block.strip().splitlines() == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
