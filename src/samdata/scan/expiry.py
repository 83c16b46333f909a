"""Claude Code deletes session transcripts older than `cleanupPeriodDays` (30 by default) when it
starts: a transcript nothing ingested before then is lost. Scan and run warn a week ahead."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from samdata.config import Config
from samdata.scan.problems import Problem

DEFAULT_CLEANUP_DAYS = 30
DAY_NS = 86_400 * 1_000_000_000


def cleanup_days(config: Config, home: Path | None = None) -> int:
    """The configured period, else Claude Code's own setting, else its default."""
    if config.pipeline.claude_cleanup_days:
        return config.pipeline.claude_cleanup_days
    try:
        settings = json.loads(
            ((home or Path.home()) / ".claude" / "settings.json").read_text(encoding="utf-8")
        )
        days = settings.get("cleanupPeriodDays")
        if isinstance(days, int) and days > 0:
            return days
    except (OSError, ValueError, AttributeError):
        pass
    return DEFAULT_CLEANUP_DAYS


def expiring_transcripts(
    config: Config,
    files: Sequence[Mapping[str, Any]],
    ingested: Mapping[str, tuple[int, int]],
    now_ns: int | None = None,
    home: Path | None = None,
) -> list[Problem]:
    """One warning for the Claude Code transcripts that Claude Code deletes within the warning
    window and that ingest has not read as they are now (not at all, or before they grew)."""
    days = cleanup_days(config, home)
    now_ns = now_ns or time.time_ns()
    window = config.pipeline.expiry_warning_days
    due: list[tuple[float, str]] = []
    for f in files:
        if f.get("format") != "claude_code" or f.get("mtime_ns") is None:
            continue
        left = (f["mtime_ns"] + days * DAY_NS - now_ns) / DAY_NS
        if left > window:
            continue
        if ingested.get(f["path"]) == (f["size"], f["mtime_ns"]):
            continue
        due.append((left, f["path"]))
    if not due:
        return []
    due.sort()
    soonest = due[0][0]
    when = "any time now" if soonest <= 0 else f"in {soonest:.1f} days"
    return [
        Problem(
            kind="expiring_transcripts",
            severity="warning",
            paths=[p for _left, p in due],
            message=f"{len(due):,} Claude Code transcript(s) not ingested yet will be deleted by Claude Code"
            f" (cleanupPeriodDays = {days}); the first {when}",
            action="run `samdata ingest` (or `samdata run`) now, or raise cleanupPeriodDays in"
            " ~/.claude/settings.json",
            figures={"transcripts": len(due), "cleanup_days": days, "soonest_days": round(soonest, 2)},
        )
    ]
