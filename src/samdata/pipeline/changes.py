"""What changed since the last `samdata run`: the difference of two catalog snapshots, plus what
this run's stages wrote (exports) and found (expiring transcripts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from samdata.pipeline import PipelineReport

COUNTS = ("files", "examples", "quarantined", "findings")


def changes_since(
    before: dict[str, Any] | None, after: dict[str, Any], report: PipelineReport
) -> dict[str, Any]:
    """`before`: the last run's snapshot (None on the first run: everything is new)."""
    before = before or {k: 0 for k in COUNTS} | {"problems": {}}
    out: dict[str, Any] = {k: after[k] - before.get(k, 0) for k in COUNTS}
    old, new = before.get("problems", {}), after["problems"]
    out["problems_appeared"] = sorted(new[k] for k in new.keys() - old.keys())
    out["problems_resolved"] = sorted(old[k] for k in old.keys() - new.keys())
    out["exports_written"] = [s.stage.split(":", 1)[1] for s in report.stages
                              if s.stage.startswith("export:") and s.status == "ok"]  # fmt: skip
    out["trained"] = [
        s.figures.get("run_id") for s in report.stages if s.stage.startswith("train:") and s.status == "ok"
    ]
    return out


def describe(changes: dict[str, Any]) -> list[str]:
    """The changes as lines a person reads; nothing changed → one line saying so."""
    lines = []
    for key, what in (("files", "files"), ("examples", "examples"), ("quarantined", "quarantined records"),
                      ("findings", "secret findings")):  # fmt: skip
        n = changes.get(key, 0)
        if n:
            lines.append(f"{n:+,} {what}")
    for p in changes.get("problems_appeared", []):
        lines.append(f"new problem: {p}")
    for p in changes.get("problems_resolved", []):
        lines.append(f"resolved: {p}")
    if changes.get("exports_written"):
        lines.append("exports written: " + ", ".join(changes["exports_written"]))
    if changes.get("trained"):
        lines.append("training runs: " + ", ".join(f"#{i}" for i in changes["trained"]))
    return lines or ["nothing changed since the last run"]
