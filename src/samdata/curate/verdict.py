"""What "kept" means, stated once: curate's funnel counts it, the default recipe exports exactly it.

An example is kept unless a person dropped it in review (a mined preference pair that is not a real
preference: review queue "preferences"), it is a near-duplicate that is not its cluster's keeper,
carries a quality flag, or is not in the language its source is configured for. Examples with
secrets are kept: they are exported redacted. A recipe may loosen each rule but the review's
(`exclude_near_duplicates = false`, `exclude_quality_flags = [...]` naming only some flags,
`exclude_wrong_language = false`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

NEAR_DUPLICATE = "near-duplicate of another example"
WRONG_LANGUAGE = "not in the language of its source"
DROPPED_IN_REVIEW = "dropped in review"


def not_kept(
    neardup: dict[str, Any] | None,
    flags: Collection[str],
    wrong_language: bool,
    *,
    dropped: bool = False,
    exclude_near_duplicates: bool = True,
    exclude_flags: Collection[str] | None = None,
    exclude_wrong_language: bool = True,
) -> str | None:
    """Why an example is not kept (the first rule it breaks), or None. `exclude_flags=None`: every
    quality flag excludes. `dropped`: dropped in review (no recipe setting loosens that)."""
    if dropped:
        return DROPPED_IN_REVIEW
    if exclude_near_duplicates and neardup and not neardup.get("keeper"):
        return NEAR_DUPLICATE
    hit = sorted(flags if exclude_flags is None else set(flags) & set(exclude_flags))
    if hit:
        return f"quality flag {hit[0]}"
    if exclude_wrong_language and wrong_language:
        return WRONG_LANGUAGE
    return None


def verdicts(catalog: Any, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The `verdict` label of these examples by `not_kept`, from their stored labels: what the
    funnel counts as kept, so the funnel is one SQL aggregate at any catalog size. The review
    decisions in force are consulted (a dropped preference pair is not kept)."""
    dropped = {i for i, d in catalog.reviewed_preferences().items() if d == "drop"}
    values = []
    for example_id, (neardup, flags, wrong_language) in catalog.verdict_inputs(ids).items():
        reason = not_kept(neardup, flags, wrong_language, dropped=example_id in dropped)
        values.append((example_id, {"kept": reason is None, "reason": reason}))
    return values


def refresh_reviewed(catalog: Any) -> int:
    """Recompute the verdicts of every example that ever had a preferences decision (few), and
    store those that changed: a drop, or its undo, since the verdict was stored; or a verdict
    stored without the decisions (by a batch that relabelled a fresh example). Nothing is written
    when nothing changed, so the data version stays put. How many verdicts changed."""
    ids = catalog.preference_reviewed_ids()
    if not ids:
        return 0
    stored = catalog.stored_verdicts(ids)
    changed = [(i, v) for i, v in verdicts(catalog, ids) if stored.get(i) != v]
    if changed:
        catalog.save_verdicts(changed)
    return len(changed)


def funnel(catalog: Any) -> dict[str, dict[str, int]]:
    """Per source: ingested → near-duplicates removed (not their cluster's keeper) → flagged by
    quality (a quality flag, or not in the source's language) → with secrets (kept, redacted) →
    kept (by `not_kept`, the default recipe's rule, stored as each example's verdict) → not curated.
    The funnel curate stored is used while the catalog's data version is the one it was computed at."""
    summary = catalog.get_stat("curate.summary")
    if summary is not None and summary["key"][0] == catalog.data_version():
        return summary["funnel"]
    return catalog.funnel_counts()
