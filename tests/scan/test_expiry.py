"""Claude Code transcripts close to `cleanupPeriodDays` and not ingested as they are now: scan and
run warn, with the number, the soonest deadline and what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.ingest import run_ingest
from samdata.scan.run import run_scan
from tests.conftest import real_fixtures

DAY = 86_400


def _transcripts(tmp: Path) -> tuple[Path, dict[str, Path]]:
    """A Claude Code projects folder with real transcripts of several ages, and its config."""
    fixture = real_fixtures() / "claude_code" / "claude-reliability-hello-world-script" / "transcript.jsonl"
    project = tmp / "home" / ".claude" / "projects" / "-Users-sam-code-sam"
    project.mkdir(parents=True)
    now = time.time()
    ages = {"fresh": 2, "old": 26, "ancient": 31, "ingested": 27}
    paths = {}
    for name, days in ages.items():
        path = project / f"{name}.jsonl"
        path.write_bytes(fixture.read_bytes())
        os.utime(path, (now - days * DAY, now - days * DAY))
        paths[name] = path
    config = tmp / "samdata.toml"
    config.write_text(
        f'catalog = "catalog.db"\n[[roots]]\nname = "Internal"\npath = "{tmp / "home"}"\n'
        f'[[sources]]\nname = "claude-code"\npath = "{project}/*.jsonl"\nformat = "claude_code"\n'
        'license = "private"\n'
    )
    return config, paths


def _warning(config_path: Path, home: Path) -> dict | None:
    config = load_config(config_path)
    with Catalog.open(config.catalog_path) as cat:
        report = run_scan(config, cat)
    found = [p for p in report.problems if p.kind == "expiring_transcripts"]
    return found[0].to_dict() if found else None


def test_transcripts_due_for_deletion_and_not_ingested_are_warned_about(tmp_path: Path, monkeypatch) -> None:
    config_path, paths = _transcripts(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(config_path)
    with Catalog.open(config.catalog_path) as cat:  # ingest one of the old ones as it is now
        run_scan(config, cat)
        os.rename(paths["old"], paths["old"].with_suffix(".hold"))
        os.rename(paths["ancient"], paths["ancient"].with_suffix(".hold"))
        run_ingest(config, cat)
    for name in ("old", "ancient"):
        os.rename(paths[name].with_suffix(".hold"), paths[name])
    warning = _warning(config_path, tmp_path / "home")
    assert warning is not None
    assert sorted(warning["paths"]) == sorted([str(paths["old"]), str(paths["ancient"])])
    assert warning["figures"]["cleanup_days"] == 30 and warning["figures"]["transcripts"] == 2
    assert "the first any time now" in warning["message"]  # the 31-day one is already due
    assert "samdata ingest" in warning["action"]

    # a transcript that grew since it was ingested is at risk again (its new turns are not in)
    with open(paths["ingested"], "ab") as f:
        f.write(paths["fresh"].read_bytes().splitlines(keepends=True)[0])
    os.utime(paths["ingested"], (time.time() - 27 * DAY, time.time() - 27 * DAY))
    assert str(paths["ingested"]) in _warning(config_path, tmp_path / "home")["paths"]

    # Claude Code's own setting moves the deadline: 90 days leaves nothing due
    (tmp_path / "home" / ".claude" / "settings.json").write_text(json.dumps({"cleanupPeriodDays": 90}))
    assert _warning(config_path, tmp_path / "home") is None


def test_run_prints_the_warning_and_ingesting_clears_it(tmp_path: Path) -> None:
    config_path, _paths = _transcripts(tmp_path)
    env = {**os.environ, "HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    scan = subprocess.run([sys.executable, "-m", "samdata", "scan", "--config", str(config_path)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert scan.returncode in (0, 1), scan.stderr
    assert "3 Claude Code transcript(s) not ingested yet will be deleted" in scan.stdout + scan.stderr
    run = subprocess.run([sys.executable, "-m", "samdata", "run", "--config", str(config_path)],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    # this run's scan still saw them un-ingested; its ingest then read them
    assert "warning: 3 Claude Code transcript(s)" in run.stderr
    again = subprocess.run([sys.executable, "-m", "samdata", "run", "--config", str(config_path)],
                           capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert again.returncode == 0 and "Claude Code transcript" not in again.stderr, again.stderr
