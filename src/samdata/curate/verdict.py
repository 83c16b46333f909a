"""What "kept" means, stated once: curate's funnel counts it, the default recipe exports exactly it.

An example is kept unless it is a near-duplicate that is not its cluster's keeper, carries a quality
flag, or is not in the language its source is configured for. Examples with secrets are kept: they
are exported redacted. A recipe may loosen each rule (`exclude_near_duplicates = false`,
`exclude_quality_flags = [...]` naming only some flags, `exclude_wrong_language = false`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

NEAR_DUPLICATE = "near-duplicate of another example"
WRONG_LANGUAGE = "not in the language of its source"


def not_kept(
    neardup: dict[str, Any] | None,
    flags: Collection[str],
    wrong_language: bool,
    *,
    exclude_near_duplicates: bool = True,
    exclude_flags: Collection[str] | None = None,
    exclude_wrong_language: bool = True,
) -> str | None:
    """Why an example is not kept (the first rule it breaks), or None. `exclude_flags=None`: every
    quality flag excludes."""
    if exclude_near_duplicates and neardup and not neardup.get("keeper"):
        return NEAR_DUPLICATE
    hit = sorted(flags if exclude_flags is None else set(flags) & set(exclude_flags))
    if hit:
        return f"quality flag {hit[0]}"
    if exclude_wrong_language and wrong_language:
        return WRONG_LANGUAGE
    return None


def verdicts(catalog: Any, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The `verdict` attribute of these examples by `not_kept`, from their stored labels: what the
    funnel counts as kept, so the funnel is one SQL aggregate at any catalog size."""
    values = []
    for example_id, (neardup, flags, wrong_language) in catalog.verdict_inputs(ids).items():
        reason = not_kept(neardup, flags, wrong_language)
        values.append((example_id, {"kept": reason is None, "reason": reason}))
    return values


def funnel(catalog: Any) -> dict[str, dict[str, int]]:
    """Per source: ingested → near-duplicates removed (not their cluster's keeper) → flagged by
    quality (a quality flag, or not in the source's language) → with secrets (kept, redacted) →
    kept (by `not_kept`, the default recipe's rule, stored as each example's verdict) → not curated.
    The funnel curate stored is used while the catalog's data version is the one it was computed at."""
    summary = catalog.get_stat("curate.summary")
    if summary is not None and summary["key"][0] == catalog.data_version():
        return summary["funnel"]
    return catalog.funnel_counts()
