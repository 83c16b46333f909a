"""`samdata schedule`: a launchd agent (macOS), a systemd user timer (Linux) or a crontab line that
runs `samdata run --config FILE` every N minutes, with its output appended to a log file.

Files go under the user's home (`~/Library/LaunchAgents`, `~/.config/systemd/user`), named after
the config file so two estates get two jobs. Loading them into launchd/systemd is a separate step
(`activate`) so tests and `--no-activate` only write files.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import xxhash

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.paths import write_bytes_atomic

KINDS = ("launchd", "systemd", "cron")


class ScheduleError(Exception):
    """The schedule cannot be written as asked; the message says why."""


@dataclass
class Installed:
    kind: str
    interval_minutes: int
    files: list[Path] = field(default_factory=list)
    crontab_line: str | None = None
    notes: list[str] = field(default_factory=list)


def _config_path(config: Config) -> Path:
    if config.config_path is None:
        raise ScheduleError("a schedule runs a config file: load the config from a file")
    return config.config_path


def job_id(config: Config) -> str:
    """Stable per config file: `samdata-run-1a2b3c4d`."""
    return "samdata-run-" + xxhash.xxh3_64_hexdigest(str(_config_path(config)).encode())[:8]


def command(config: Config) -> list[str]:
    """What the job runs: this Python's samdata on this config, marked as a scheduled run."""
    return [
        sys.executable,
        "-m",
        "samdata",
        "run",
        "--config",
        str(_config_path(config)),
        "--trigger",
        "schedule",
    ]


def default_kind() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("linux") and shutil.which("systemctl"):
        return "systemd"
    return "cron"


def _paths(config: Config, home: Path) -> dict[str, list[Path]]:
    name = job_id(config)
    return {
        "launchd": [home / "Library" / "LaunchAgents" / f"com.samdata.{name}.plist"],
        "systemd": [
            home / ".config" / "systemd" / "user" / f"{name}.service",
            home / ".config" / "systemd" / "user" / f"{name}.timer",
        ],
        "cron": [],
    }


def launchd_plist(config: Config, minutes: int) -> bytes:
    """A LaunchAgent that runs every `minutes` (launchd also runs a missed interval after sleep)."""
    log = str(config.run_log)
    return plistlib.dumps(
        {
            "Label": f"com.samdata.{job_id(config)}",
            "ProgramArguments": command(config),
            "StartInterval": minutes * 60,
            "RunAtLoad": False,
            "WorkingDirectory": str(_config_path(config).parent),
            "StandardOutPath": log,
            "StandardErrorPath": log,
            "ProcessType": "Background",
            "LowPriorityIO": True,
            "Nice": 10,
            "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        }
    )


def _systemd_quote(arg: str) -> str:
    # systemd expands % specifiers and $ variables and splits on spaces: quote and escape all three.
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def _systemd_path(path: Path) -> str:
    # Paths in StandardOutput= are not unquoted: only specifiers need escaping.
    return str(path).replace("%", "%%")


def systemd_units(config: Config, minutes: int) -> tuple[str, str]:
    """The service (one run) and the timer (every `minutes` after the last one, and after boot)."""
    cfg = _config_path(config)
    log = _systemd_path(config.run_log)
    service = (
        "[Unit]\n"
        f"Description=samdata run for {_systemd_path(cfg)}\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_systemd_path(cfg.parent)}\n"
        f"ExecStart={' '.join(_systemd_quote(a) for a in command(config))}\n"
        f"StandardOutput=append:{log}\n"
        f"StandardError=append:{log}\n"
        "Environment=PYTHONUNBUFFERED=1\n"
        "Nice=10\n"
        "IOSchedulingClass=idle\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=samdata run every {minutes} min for {_systemd_path(cfg)}\n\n"
        "[Timer]\n"
        "OnBootSec=5min\n"
        f"OnUnitActiveSec={minutes}min\n"
        "AccuracySec=1min\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return service, timer


def crontab_line(config: Config, minutes: int) -> str:
    """A crontab line for the interval (cron counts minutes of the hour: the interval must divide an
    hour, or be whole hours that divide a day)."""
    if minutes < 60 and 60 % minutes == 0:
        when = "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    elif minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        when = "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    else:
        raise ScheduleError(
            f"cron cannot run every {minutes} min; choose minutes that divide an hour (5, 10, 15, 30) "
            "or whole hours that divide a day (60, 120, 180, 360, 720, 1440)"
        )
    cfg = _config_path(config)
    cmd = " ".join(shlex.quote(a) for a in command(config))
    line = f"cd {shlex.quote(str(cfg.parent))} && {cmd} >> {shlex.quote(str(config.run_log))} 2>&1"
    return f"{when} {line.replace('%', chr(92) + '%')}"  # cron reads a bare % as a newline


def _run(args: list[str]) -> str | None:
    """Run a service-manager command; its error, or None."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip() or f"exit {proc.returncode}"


def install(
    config: Config, minutes: int | None = None, kind: str | None = None, activate: bool = True,
    home: Path | None = None,
) -> Installed:  # fmt: skip
    """Write (and with `activate`, load) the job for `config`; an earlier job of this config is replaced."""
    minutes = config.pipeline.interval_minutes if minutes is None else minutes
    if minutes < 1:
        raise ScheduleError("the interval is at least 1 minute")
    kind = kind or default_kind()
    if kind not in KINDS:
        raise ScheduleError(f"unknown scheduler {kind!r}; choose from {', '.join(KINDS)}")
    home = home or Path.home()
    config.run_log.parent.mkdir(parents=True, exist_ok=True)
    done = Installed(kind, minutes)
    paths = _paths(config, home)[kind]
    if kind == "launchd":
        write_bytes_atomic(paths[0], launchd_plist(config, minutes))
        done.files = paths
        if activate:
            domain = f"gui/{os.getuid()}"
            _run(["launchctl", "bootout", domain, str(paths[0])])  # an older copy; absent is fine
            error = _run(["launchctl", "bootstrap", domain, str(paths[0])])
            if error:
                done.notes.append(
                    f"written but not loaded ({error}); load it: launchctl bootstrap {domain} {paths[0]}"
                )
    elif kind == "systemd":
        service, timer = systemd_units(config, minutes)
        write_bytes_atomic(paths[0], service.encode())
        write_bytes_atomic(paths[1], timer.encode())
        done.files = paths
        if activate:
            error = _run(["systemctl", "--user", "daemon-reload"]) or _run(
                ["systemctl", "--user", "enable", "--now", paths[1].name]
            )
            if error:
                done.notes.append(
                    f"written but not enabled ({error}); enable it: systemctl --user enable --now {paths[1].name}"
                )
    else:
        done.crontab_line = crontab_line(config, minutes)
    return done


def remove(config: Config, activate: bool = True, home: Path | None = None) -> list[Path]:
    """Unload and delete this config's job files; the paths removed."""
    home = home or Path.home()
    removed = []
    for kind, paths in _paths(config, home).items():
        present = [p for p in paths if p.exists()]
        if not present:
            continue
        if activate and kind == "launchd":
            _run(["launchctl", "bootout", f"gui/{os.getuid()}", str(present[0])])
        if activate and kind == "systemd":
            _run(["systemctl", "--user", "disable", "--now", paths[1].name])
        for p in present:
            p.unlink()
            removed.append(p)
        if activate and kind == "systemd":
            _run(["systemctl", "--user", "daemon-reload"])
    return removed


def _interval_of(kind: str, paths: list[Path]) -> int | None:
    try:
        if kind == "launchd":
            return int(plistlib.loads(paths[0].read_bytes())["StartInterval"]) // 60
        for line in paths[1].read_text().splitlines():
            if line.startswith("OnUnitActiveSec="):
                return int(line.split("=", 1)[1].removesuffix("min"))
    except (OSError, KeyError, ValueError, plistlib.InvalidFileException):
        return None
    return None


def status(config: Config, catalog: Catalog | None, home: Path | None = None) -> dict[str, Any]:
    """Installed or not, which files, the interval, the last run and (estimated) the next one
    (`catalog` None: no run yet)."""
    home = home or Path.home()
    found = next(
        (
            (kind, paths)
            for kind, paths in _paths(config, home).items()
            if paths and all(p.exists() for p in paths)
        ),
        None,
    )
    last = (catalog.last_pipeline("schedule") or catalog.last_pipeline()) if catalog else None
    out: dict[str, Any] = {"installed": found is not None, "kind": found[0] if found else None,
                           "files": [str(p) for p in found[1]] if found else [], "interval_minutes": None,
                           "log": str(config.run_log), "next_run": None,
                           "last_run": {k: last[k] for k in ("id", "trigger", "status", "started_at", "ended_at", "error")}
                           if last else None}  # fmt: skip
    if found:
        minutes = _interval_of(*found)
        out["interval_minutes"] = minutes
        if minutes and last:
            start = datetime.fromisoformat(last["started_at"])
            out["next_run"] = (start + timedelta(minutes=minutes)).isoformat(timespec="seconds")
    return out
