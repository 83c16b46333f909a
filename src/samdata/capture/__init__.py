"""Live capture: the assistant records conversations, corrections and escalations as it runs.

Every call returns only after its transaction committed (acknowledged = durable). Several
processes may write at once: SQLite serialises them (WAL, busy timeout), the example id is the
content hash, and an optional `capture_id` makes a retried call a no-op instead of a duplicate.

    from samdata.capture import Capture
    cap = Capture("~/sam/.samdata/catalog.db")
    cap.record_conversation([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])

or, with the catalog of `$SAMDATA_CONFIG` / `./samdata.toml`: `samdata.capture.record_correction(...)`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import orjson
import xxhash

from samdata.catalog import Catalog, utcnow
from samdata.catalog.capture import CaptureItem, CaptureResult
from samdata.catalog.ingest import ExampleRow
from samdata.config import load_config
from samdata.model import CAPTURE_SOURCES, Example, InvalidExample, Message
from samdata.sources import openai_messages, sft

SOURCES = CAPTURE_SOURCES

__all__ = [
    "Capture",
    "CaptureConflict",
    "InvalidExample",
    "capture_item",
    "record_conversation",
    "record_correction",
    "record_escalation",
]


class CaptureConflict(Exception):
    """A capture id (Idempotency-Key) already stored a different request."""


def _turns(prompt: str | list[dict[str, Any]]) -> list[Message]:
    if isinstance(prompt, str):
        return [Message("user", prompt)]
    return openai_messages(prompt)


def example_of(kind: str, payload: dict[str, Any]) -> Example:
    """The example a capture request stands for. Raises InvalidExample for a request that is not
    one (no user turn, unknown role, …). Payload keys: conversation `messages`; correction
    `prompt`, `original`, `corrected`; escalation `prompt`, `answer`."""
    if kind == "conversation":
        return sft(openai_messages(payload["messages"])).example
    if kind == "correction":
        return Example(
            "preference", _turns(payload["prompt"]), [Message("assistant", payload["corrected"])],
            [Message("assistant", payload["original"])],
        )  # fmt: skip
    if kind == "escalation":
        return Example("sft", [*_turns(payload["prompt"]), Message("assistant", payload["answer"])])
    raise InvalidExample(f"unknown capture kind {kind!r} (conversation, correction, escalation)")


def capture_item(
    kind: str, payload: dict[str, Any], meta: dict[str, Any] | None, key: str | None
) -> CaptureItem:
    """A capture ready for `Catalog.commit_captures`; `key` makes a retry answer the first answer."""
    example = example_of(kind, payload)
    request = orjson.dumps(
        {"kind": kind, "payload": payload, "meta": meta or {}}, option=orjson.OPT_SORT_KEYS
    )
    locator = {"capture_id": key or uuid.uuid4().hex}
    row = ExampleRow.of(example, locator, {**(meta or {}), "captured_at": utcnow()})
    return CaptureItem(kind, SOURCES[kind], key, xxhash.xxh3_128_hexdigest(request), row)


def checked(result: CaptureResult, key: str | None) -> str:
    """The example id of a stored capture; CaptureConflict for a key reused with another request."""
    if result.conflict:
        raise CaptureConflict(f"capture id {key!r} was used before for a different request")
    return result.example_id


class Capture:
    """A writer bound to one catalog file; cheap to create, safe to use from many processes."""

    def __init__(self, catalog: Path | str) -> None:
        self.catalog_path = Path(os.path.expanduser(catalog))

    def _store(
        self, kind: str, payload: dict[str, Any], meta: dict[str, Any] | None, capture_id: str | None
    ) -> str:
        item = capture_item(kind, payload, meta, capture_id)
        with Catalog.open(self.catalog_path) as cat:
            [result] = cat.commit_captures([item], utcnow())
        return checked(result, capture_id)

    def record_conversation(
        self,
        messages: list[dict[str, Any]],
        meta: dict[str, Any] | None = None,
        capture_id: str | None = None,
    ) -> str:
        """Store a conversation (OpenAI-style messages); returns the example id."""
        return self._store("conversation", {"messages": messages}, meta, capture_id)

    def record_correction(
        self,
        prompt: str | list[dict[str, Any]],
        original: str,
        corrected: str,
        meta: dict[str, Any] | None = None,
        capture_id: str | None = None,
    ) -> str:
        """Store the owner's correction of an answer as a preference pair (corrected = chosen)."""
        return self._store("correction", {"prompt": prompt, "original": original, "corrected": corrected}, meta,
                           capture_id)  # fmt: skip

    def record_escalation(
        self,
        prompt: str | list[dict[str, Any]],
        answer_from_stronger_model: str,
        meta: dict[str, Any] | None = None,
        capture_id: str | None = None,
    ) -> str:
        """Store a stronger model's answer to a prompt SAM escalated (distillation data)."""
        return self._store(
            "escalation", {"prompt": prompt, "answer": answer_from_stronger_model}, meta, capture_id
        )


def _default() -> Capture:
    return Capture(load_config().catalog_path)


def record_conversation(messages: list[dict[str, Any]], meta: dict[str, Any] | None = None, **kw: Any) -> str:
    """`Capture.record_conversation` on the catalog of the default config."""
    return _default().record_conversation(messages, meta, **kw)


def record_correction(
    prompt: str, original: str, corrected: str, meta: dict[str, Any] | None = None, **kw: Any
) -> str:
    """`Capture.record_correction` on the catalog of the default config."""
    return _default().record_correction(prompt, original, corrected, meta, **kw)


def record_escalation(
    prompt: str, answer_from_stronger_model: str, meta: dict[str, Any] | None = None, **kw: Any
) -> str:
    """`Capture.record_escalation` on the catalog of the default config."""
    return _default().record_escalation(prompt, answer_from_stronger_model, meta, **kw)
