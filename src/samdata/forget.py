"""Forgetting for good: what matches (ids, or a substring of the text, case-insensitive), a preview
of each match with its context, and wiping the text everywhere it is kept.

The example's body, its redacted copy, findings, every curate attribute and index row, the labels of
its provenance rows, and quarantine snippets holding the text are wiped; ids stay (re-ingest will not
bring the example back) and so do the export and run rows that say where it went.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from samdata.catalog import Catalog
from samdata.curate import secrets

RULE = "substring, case-insensitive"
CONTEXT = 40


@dataclass
class ForgetPlan:
    """What `forget` would wipe."""

    ids: list[str]
    quarantine_ids: list[int] = field(default_factory=list)
    previews: dict[str, str] = field(default_factory=dict)  # example id → text around the match
    quarantine_previews: dict[int, str] = field(default_factory=dict)
    traces: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.ids and not self.quarantine_ids


def _around(text: str, needle: str, scanner: secrets.SecretScanner) -> str:
    """The text around the first match, other secrets in it redacted."""
    at = text.lower().find(needle.lower())
    if at < 0:
        return ""
    start, end = max(at - CONTEXT, 0), min(at + len(needle) + CONTEXT, len(text))
    window = text[start:end].replace("\n", " ")
    hits = [h for h in scanner.scan(window) if needle.lower() not in window[h.start : h.end].lower()]
    return ("…" if start else "") + secrets.redact(window, hits) + ("…" if end < len(text) else "")


def plan_forget(
    catalog: Catalog, ids: list[str], match: str | None, scanner: secrets.SecretScanner
) -> ForgetPlan:
    """Resolve what to forget: the given ids (or unique prefixes) and every live example, and every
    quarantine snippet, whose text contains `match` (substring, case-insensitive)."""
    wanted: list[str] = []
    for i in ids:
        found = catalog.resolve_ids(i)
        wanted += found if len(found) == 1 else []
    plan = ForgetPlan([])
    if match:
        for example_id in catalog.match_ids(match):
            wanted.append(example_id)
            body = catalog.example(example_id)["body"]
            texts = [
                m["content"] for side in ("messages", "chosen", "rejected") for m in body.get(side) or []
            ]
            plan.previews[example_id] = next((p for t in texts if (p := _around(t, match, scanner))), "")
        for row in catalog.match_quarantine(match):
            plan.quarantine_ids.append(row["id"])
            plan.quarantine_previews[row["id"]] = _around(row["snippet"], match, scanner)
    plan.ids = sorted(set(wanted))
    plan.traces = [t for t in (catalog.trace(i) for i in plan.ids) if t is not None and not t["forgotten"]]
    plan.ids = [t["id"] for t in plan.traces]
    plan.runs = catalog.runs_of_examples(plan.ids) if plan.ids else []
    return plan


def apply_forget(catalog: Catalog, plan: ForgetPlan) -> tuple[int, int]:
    """Wipe what the plan names; return (examples forgotten, quarantine snippets wiped)."""
    return catalog.forget(plan.ids), catalog.wipe_snippets(plan.quarantine_ids)
