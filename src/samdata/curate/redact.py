"""Secrets in an example body: findings per text part, and the body with each replaced by its
typed placeholder (what exports and every listing show)."""

from __future__ import annotations

from typing import Any

import orjson

from samdata.curate import secrets


def _texts(body: dict[str, Any]) -> list[tuple[str, list[Any], str]]:
    """(part name, containing object path, text) of every string an example trains on or shows."""
    out = []
    for side in ("messages", "chosen", "rejected"):
        for i, m in enumerate(body.get(side) or []):
            out.append((f"{side}[{i}].content", [side, i, "content"], m["content"]))
            for j, call in enumerate(m.get("tool_calls") or []):
                args = call["arguments"]
                text = args if isinstance(args, str) else orjson.dumps(args).decode()
                out.append(
                    (f"{side}[{i}].tool_calls[{j}].arguments", [side, i, "tool_calls", j, "arguments"], text)
                )
    return out


def scan_secrets(
    body: dict[str, Any], scanner: secrets.SecretScanner
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Findings of one example body and, if there are any, its redacted body."""
    findings: list[dict[str, Any]] = []
    redacted = None
    for part, path, text in _texts(body):
        hits = scanner.scan(text)
        if not hits:
            continue
        if redacted is None:
            redacted = orjson.loads(orjson.dumps(body))
        node = redacted
        for key in path[:-1]:
            node = node[key]
        clean = secrets.redact(text, hits)
        if path[-1] == "arguments" and not isinstance(node["arguments"], str):
            try:
                node["arguments"] = orjson.loads(clean)
            except orjson.JSONDecodeError:
                node["arguments"] = clean
        else:
            node[path[-1]] = clean
        findings += [
            {
                "kind": h.kind,
                "part": part,
                "start": h.start,
                "end": h.end,
                "hash": h.hash,
                "preview": h.preview,
            }
            for h in hits
        ]
    return findings, redacted
