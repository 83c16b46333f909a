"""Reading examples back: what `samdata examples` lists, redacted of secrets unless asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.curate import secrets, verdict
from samdata.curate.redact import scan_secrets


def stats_document(catalog: Catalog) -> dict[str, Any]:
    """What `samdata stats --json` prints and `GET /api/stats` answers: examples by kind and source,
    every file's account, and curation (funnel, quality flags, categories, languages, lengths).
    It reads the whole catalog, so it is kept until the data changes (`Catalog.cached`)."""

    def compute() -> dict[str, Any]:
        figures = catalog.ingest_stats()
        figures["curation"] = {
            "funnel": verdict.funnel(catalog),
            "quality_flags": catalog.quality_flag_counts(),
            **catalog.breakdowns(),
        }
        return figures

    return catalog.cached("stats.document", compute)


def list_examples(
    config: Config,
    catalog: Catalog,
    source: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
    redacted: bool = True,
    flag: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Live examples as `{"id", "kind", "messages", "chosen", "rejected", "label"?, "tools"?}`.

    Redaction runs the secrets scanner of the config now (its literals and allow-list), so what is
    shown never depends on whether curate has run yet.
    """
    scanner = secrets.scanner_for(config.curate) if redacted else None
    for example_id, example_kind, raw in catalog.live_examples(source, kind, limit, flag):
        body = orjson.loads(raw)
        if scanner is not None:
            _, clean = scan_secrets(body, scanner)
            body = clean or body
        row: dict[str, Any] = {
            "id": example_id,
            "kind": example_kind,
            "messages": body["messages"],
            "chosen": body.get("chosen"),
            "rejected": body.get("rejected"),
        }
        for key in ("label", "tools"):
            if key in body:
                row[key] = body[key]
        yield row


def first_words(body: dict[str, Any], n: int = 12) -> str:
    """The start of an example's prompt (or first turn), for a one-line listing."""
    turns = body.get("messages") or []
    text = next((m["content"] for m in turns if m["role"] == "user"), turns[0]["content"] if turns else "")
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def clusters(config: Config, catalog: Catalog) -> list[dict[str, Any]]:
    """Near-duplicate clusters, largest first, each member with its file, locator and first words
    (redacted)."""
    scanner = secrets.scanner_for(config.curate)
    out = catalog.clusters()
    for c in out:
        for m in c["members"]:
            m["text"] = scanner.redact_text(first_words(m.pop("body")))
    return out


def show(config: Config, catalog: Catalog, example_id: str, redacted: bool = True) -> dict[str, Any]:
    """One example whole: its turns, curate's labels and flags, where it came from, the exports it
    went into, and what each recipe of the config does with it (and why)."""
    from samdata.export import explain

    info = catalog.trace(example_id)
    if info is None:
        raise KeyError(example_id)
    body = catalog.example(example_id)["body"]
    if redacted:
        scanner = secrets.scanner_for(config.curate)
        body = scan_secrets(body, scanner)[1] or body
        for p in info["provenance"]:
            p["meta"] = _redact_values(p["meta"], scanner)
    row = catalog.export_candidate(example_id)
    if row:
        row["review"] = catalog.reviewed_preferences().get(example_id)  # a swap or drop in review
    recipes = {name: explain(config, name, row) for name in sorted(config.recipes)} if row else {}
    return {**info, "body": body, "recipes": recipes}


def _redact_values(value: Any, scanner: secrets.SecretScanner) -> Any:
    """Every string inside a JSON value, redacted."""
    if isinstance(value, str):
        return scanner.redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_values(v, scanner) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v, scanner) for v in value]
    return value
