"""`samdata schedule`: the launchd agent, systemd units and crontab line it writes, validated by the
tools that read them, installed into a temporary HOME (nothing is loaded on the test machine)."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.pipeline import schedule

# The owner's drives have names like these: spaces, '#', '%' and '$' must survive every format.
AWKWARD = "David External/#1 100% $HOME"


@pytest.fixture()
def config_path(tmp_path: Path) -> Path:
    folder = tmp_path / AWKWARD
    folder.mkdir(parents=True)
    path = folder / "samdata.toml"
    path.write_text('catalog = "catalog.db"\n')
    return path


def _samdata(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "samdata", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def test_launchd_agent_is_a_valid_plist_running_samdata_run(tmp_path: Path, config_path: Path) -> None:
    home = tmp_path / "home"
    r = _samdata(home, "schedule", "install", "--config", str(config_path), "--kind", "launchd",
                 "--no-activate", "--every", "30")  # fmt: skip
    assert r.returncode == 0, r.stderr
    (plist,) = (home / "Library" / "LaunchAgents").glob("com.samdata.samdata-run-*.plist")
    agent = plistlib.loads(plist.read_bytes())
    assert agent["ProgramArguments"] == [sys.executable, "-m", "samdata", "run", "--config", str(config_path),
                                         "--trigger", "schedule"]  # fmt: skip
    assert agent["StartInterval"] == 1800 and agent["Label"] == plist.stem
    log = config_path.parent / "logs" / "run.log"
    assert agent["StandardOutPath"] == agent["StandardErrorPath"] == str(log)
    assert log.parent.is_dir()  # launchd does not create the log's folder
    status = _samdata(home, "schedule", "status", "--config", str(config_path))
    assert "installed (launchd): every 30 min" in status.stdout, status.stdout
    removed = _samdata(home, "schedule", "remove", "--config", str(config_path), "--no-activate")
    assert removed.returncode == 0 and not plist.exists()
    assert (
        "no schedule installed" in _samdata(home, "schedule", "status", "--config", str(config_path)).stdout
    )


def _unit(text: str) -> dict[str, str]:
    """A unit file's Key=Value lines (the subset these units use: no continuation lines)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def _unescape(arg: str) -> str:
    return arg.replace("%%", "%").replace("$$", "$")


def test_systemd_units_verify_and_run_the_config_they_name(tmp_path: Path, config_path: Path) -> None:
    home = tmp_path / "home"
    r = _samdata(home, "schedule", "install", "--config", str(config_path), "--kind", "systemd",
                 "--no-activate", "--every", "15")  # fmt: skip
    assert r.returncode == 0, r.stderr
    units = home / ".config" / "systemd" / "user"
    (service,) = units.glob("*.service")
    (timer,) = units.glob("*.timer")
    assert service.stem == timer.stem
    svc, tmr = _unit(service.read_text()), _unit(timer.read_text())
    assert [_unescape(a) for a in shlex.split(svc["ExecStart"])] == schedule.command(load_config(config_path))
    assert _unescape(svc["WorkingDirectory"]) == str(config_path.parent)
    assert _unescape(svc["StandardOutput"]) == f"append:{config_path.parent / 'logs' / 'run.log'}"
    assert tmr["OnUnitActiveSec"] == "15min" and tmr["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(service), str(timer)], capture_output=True,
                                text=True, timeout=60)  # fmt: skip
        assert verify.returncode == 0, verify.stderr
        assert "bad unit file setting" not in verify.stderr and "not absolute" not in verify.stderr
    status = _samdata(home, "schedule", "status", "--config", str(config_path), "--json")
    assert '"interval_minutes": 15' in status.stdout and '"kind": "systemd"' in status.stdout


def test_the_crontab_line_runs_samdata_and_logs_to_the_known_file(tmp_path: Path, config_path: Path) -> None:
    home = tmp_path / "home"
    r = _samdata(home, "schedule", "install", "--config", str(config_path), "--kind", "cron", "--every", "10")
    assert r.returncode == 0, r.stderr
    line = r.stdout.splitlines()[
        r.stdout.splitlines().index("add this line to your crontab (crontab -e):") + 1
    ]
    fields = line.split(" ", 5)
    assert fields[:5] == ["*/10", "*", "*", "*", "*"]
    assert "%" not in fields[5].replace("\\%", "")  # a bare % ends cron's command
    assert not home.exists() or not any(home.rglob("*"))  # cron: nothing written, a line to add
    # what cron would run: its command with \% read back as %, under /bin/sh
    done = subprocess.run(["/bin/sh", "-c", fields[5].replace("\\%", "%")], capture_output=True, text=True,
                          env={**os.environ, "HOME": str(home)}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = (config_path.parent / "logs" / "run.log").read_text()
    assert "run #1 ok" in log
    with Catalog.open(config_path.parent / "catalog.db", readonly=True) as cat:
        assert cat.pipeline_runs(1)[-1]["trigger"] == "schedule"
    status = _samdata(home, "schedule", "status", "--config", str(config_path))
    assert "last run: #1 ok" in status.stdout, status.stdout


def test_intervals_cron_cannot_express_are_refused(config_path: Path) -> None:
    config = load_config(config_path)
    assert schedule.crontab_line(config, 120).startswith("0 */2 * * * ")
    assert schedule.crontab_line(config, 60).startswith("0 * * * * ")
    with pytest.raises(schedule.ScheduleError, match="cron cannot run every 45 min"):
        schedule.crontab_line(config, 45)
    with pytest.raises(schedule.ScheduleError, match="at least 1 minute"):
        schedule.install(config, 0, "systemd", activate=False, home=config_path.parent / "h")


def test_status_shows_the_last_scheduled_run_and_the_next(tmp_path: Path, config_path: Path) -> None:
    from samdata.pipeline import run_pipeline

    config = load_config(config_path)
    home = tmp_path / "home"
    schedule.install(config, 20, "systemd", activate=False, home=home)
    report = run_pipeline(config, trigger="schedule")
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        status = schedule.status(config, cat, home=home)
    assert status["installed"] and status["interval_minutes"] == 20
    assert status["last_run"]["id"] == report.run_id and status["last_run"]["trigger"] == "schedule"
    from datetime import datetime, timedelta

    started = datetime.fromisoformat(status["last_run"]["started_at"])
    assert datetime.fromisoformat(status["next_run"]) - started == timedelta(minutes=20)
    assert schedule.remove(config, activate=False, home=home)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert not schedule.status(config, cat, home=home)["installed"]
