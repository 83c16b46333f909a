"""`samdata export NAME`: a recipe → train/valid/test files a trainer loads, the same bytes every time.

Selection: the recipe's sources and kinds, live examples only, redacted bodies (an example curate has
not looked at is left out: its secrets are unknown), near-duplicates that are not their cluster's
keeper left out by default, optional quality flags, categories and a token limit. Every example that
is left out is counted with its reason in `manifest.json`. Splits come from `samdata.export.split`.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from samdata.catalog import Catalog, utcnow
from samdata.config import Config, RecipeConfig
from samdata.export.split import SPLITS, conversation_key, split_of
from samdata.export.writers import WRITERS

MANIFEST_SCHEMA = "samdata.export/1"


class ExportError(Exception):
    """The recipe cannot be exported (unknown, or a split too small for training)."""


@dataclass
class ExportResult:
    export_id: int
    out_dir: Path
    counts: dict[str, int]
    manifest: dict[str, Any]


def _group(row: dict[str, Any]) -> str:
    cluster = row["neardup"]
    if cluster:
        return f"cluster:{cluster.get('anchor', cluster['keeper_id'])}"
    return conversation_key(row["file_id"], row["locator"] or {})


def _dropped_reason(row: dict[str, Any], recipe: RecipeConfig) -> str | None:
    if row["secrets"] is None:
        return "not curated (run samdata curate)"
    if recipe.exclude_near_duplicates and row["neardup"] and not row["neardup"]["keeper"]:
        return "near-duplicate of another example"
    flags = {f["flag"] for f in row["quality"] or []}
    hit = sorted(flags & set(recipe.exclude_quality_flags))
    if hit:
        return f"quality flag {hit[0]}"
    if recipe.categories is not None and row["kind"] == "sft":
        category = (row["category"] or {}).get("category")
        if category not in recipe.categories:
            return "category not in recipe"
    if recipe.max_tokens and row["tokens"] and row["tokens"]["tokens"] > recipe.max_tokens:
        return f"longer than max_tokens ({recipe.max_tokens})"
    return None


def _write_atomic(path: Path, data: bytes) -> str:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def run_export(config: Config, catalog: Catalog, name: str, out_dir: Path) -> ExportResult:
    """Write the recipe's files and manifest into `out_dir`; record the export and its members."""
    recipe = config.recipes.get(name)
    if recipe is None:
        known = ", ".join(sorted(config.recipes)) or "none"
        raise ExportError(f"no recipe {name!r} in {config.config_path} (recipes: {known})")
    write = WRITERS[recipe.format]
    rows: dict[str, list[bytes]] = {s: [] for s in SPLITS}
    members: list[tuple[str, str]] = []
    dropped: Counter[str] = Counter()
    changed: Counter[str] = Counter()
    breakdown: Counter[tuple[str, str, str, str]] = Counter()
    tokens: dict[str, list[int]] = defaultdict(list)
    for row in catalog.export_candidates(recipe.sources, recipe.kinds):
        reason = _dropped_reason(row, recipe)
        if reason:
            dropped[reason] += 1
            continue
        body = orjson.loads(row["redacted"] or row["body"])
        split = split_of(_group(row), recipe.salt, recipe.splits)
        line = write(body, recipe, changed)
        if line is None:
            dropped[f"cannot be written as {recipe.format}"] += 1
            continue
        rows[split].append(line)
        members.append((row["id"], split))
        source = next((s for s in row["sources"] if s in recipe.sources), row["sources"][0])
        category = (row["category"] or {}).get("category", "-") if row["kind"] == "sft" else "-"
        breakdown[(split, source, category, row["kind"])] += 1
        if row["tokens"]:
            tokens[split].append(row["tokens"]["tokens"])
    counts = {s: len(rows[s]) for s in SPLITS}
    for s in ("valid", "test"):
        if recipe.splits.get(s, 0) > 0 and 0 < counts[s] < recipe.batch_size:
            raise ExportError(
                f"recipe {name!r}: {s} has {counts[s]} rows, fewer than batch_size {recipe.batch_size}; "
                "mlx-lm and TRL fail on it. Add data, raise the fraction, or lower batch_size."
            )
    if counts["train"] == 0:
        raise ExportError(
            f"recipe {name!r}: no training rows (dropped: {dict(dropped) or 'nothing matched'})"
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for s in SPLITS:
        files[f"{s}.jsonl"] = _write_atomic(out_dir / f"{s}.jsonl", b"".join(rows[s]))
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "recipe": {"name": name, **recipe.model_dump(mode="json")},
        "catalog": {
            "examples": catalog.conn.execute("SELECT count(*) FROM examples WHERE forgotten = 0").fetchone()[
                0
            ]
        },
        "counts": counts,
        "breakdown": [
            {"split": k[0], "source": k[1], "category": k[2], "kind": k[3], "examples": n}
            for k, n in sorted(breakdown.items())
        ],
        "tokens": {
            s: {"total": sum(v), "max": max(v), "mean": round(sum(v) / len(v), 1)}
            for s, v in sorted(tokens.items())
            if v
        },
        "dropped": dict(sorted(dropped.items())),
        "changed": dict(sorted(changed.items())),
        "files": files,
    }
    manifest_bytes = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    manifest_sha = _write_atomic(out_dir / "manifest.json", manifest_bytes)
    recipe_json = orjson.dumps(recipe.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS).decode()
    export_id = catalog.record_export(
        name, recipe_json, str(out_dir), utcnow(), manifest_sha, counts, members
    )
    return ExportResult(export_id, out_dir, counts, manifest)
