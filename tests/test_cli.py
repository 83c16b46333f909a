"""The CLI as a user runs it: a real process, exit codes that mean something."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SAMDATA_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "samdata", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_help_and_version() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for verb in ("init", "scan", "inventory", "demo"):
        assert verb in proc.stdout
    assert run_cli("--version").stdout.startswith("samdata ")


def test_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli("scan", "--no-such-flag").returncode == 2
    bad = tmp_path / "samdata.toml"
    bad.write_text('[[roots]]\nname = "r"\npth = "/x"\n')
    proc = run_cli("scan", "--config", str(bad))
    assert proc.returncode == 2
    assert "roots.0.pth" in proc.stderr and str(bad) in proc.stderr
    assert run_cli("scan", cwd=tmp_path).returncode == 2  # no ./samdata.toml there
    assert run_cli("scan", "--config", str(tmp_path / "missing.toml")).returncode == 2


def test_init_then_scan_strict(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "chat.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert run_cli("init", cwd=tmp_path).returncode == 0
    assert run_cli("init", cwd=tmp_path).returncode == 2  # refuses to overwrite
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(f'[[roots]]\nname = "data"\npath = "{data}"\n')
    proc = run_cli("scan", "--config", str(cfg), "--strict", "--json")
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["problems"] == []
    (data / "empty.jsonl").touch()
    proc = run_cli("scan", "--config", str(cfg), "--strict")
    assert proc.returncode == 1
    assert "empty_file" in proc.stdout
    assert run_cli("scan", "--config", str(cfg)).returncode == 0  # problems alone are not a failure


def test_catalog_option_and_scan_paths(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "a" / "x.jsonl").write_text('{"text": "x"}\n')
    (data / "b.jsonl").write_text('{"text": "y"}\n')
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(f'[[roots]]\nname = "data"\npath = "{data}"\n')
    elsewhere = tmp_path / "elsewhere.db"
    proc = run_cli("scan", str(data / "a"), "--config", str(cfg), "--catalog", str(elsewhere), "--json")
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["files_seen"] == 1
    assert elsewhere.exists() and not (tmp_path / ".samdata").exists()
    assert run_cli("scan", str(tmp_path / "nope"), "--config", str(cfg)).returncode == 2
