"""What "kept" means, stated once: curate's funnel counts it, the default recipe exports exactly it.

An example is kept unless it is a near-duplicate that is not its cluster's keeper, carries a quality
flag, or is not in the language its source is configured for. Examples with secrets are kept: they
are exported redacted. A recipe may loosen each rule (`exclude_near_duplicates = false`,
`exclude_quality_flags = [...]` naming only some flags, `exclude_wrong_language = false`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

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


def funnel(catalog: Any) -> dict[str, dict[str, int]]:
    """Per source: ingested → near-duplicates removed (not their cluster's keeper) → flagged by
    quality (a quality flag, or not in the source's language) → with secrets (kept, redacted) →
    kept (by `not_kept`, the default recipe's rule) → not curated yet."""
    out: dict[str, dict[str, int]] = {}
    for source, _id, curated, secrets, neardup, quality, wrong_language in catalog.verdict_facts():
        f = out.setdefault(
            source,
            {"ingested": 0, "near_dup_removed": 0, "quality_flagged": 0, "with_secrets": 0, "kept": 0,
             "not_curated": 0},
        )  # fmt: skip
        f["ingested"] += 1
        if not curated:
            f["not_curated"] += 1
            continue
        near = orjson.loads(neardup) if neardup else None
        flags = {x["flag"] for x in orjson.loads(quality)} if quality else set()
        f["near_dup_removed"] += bool(near and not near.get("keeper"))
        f["quality_flagged"] += bool(flags or wrong_language)
        f["with_secrets"] += secrets
        f["kept"] += not_kept(near, flags, wrong_language) is None
    return dict(sorted(out.items()))
