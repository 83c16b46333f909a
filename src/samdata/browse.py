"""Reading examples back: what `samdata examples` lists, redacted of secrets unless asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.curate import scan_secrets, secrets


def list_examples(
    config: Config,
    catalog: Catalog,
    source: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
    redacted: bool = True,
) -> Iterator[dict[str, Any]]:
    """Live examples as `{"id", "kind", "messages", "chosen", "rejected", "label"?, "tools"?}`.

    Redaction runs the secrets scanner of the config now (its literals and allow-list), so what is
    shown never depends on whether curate has run yet.
    """
    scanner = secrets.SecretScanner(config.curate.literals, config.curate.allow) if redacted else None
    for example_id, example_kind, raw in catalog.live_examples(source, kind, limit):
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
