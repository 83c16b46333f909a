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

from samdata.catalog import Catalog, utcnow
from samdata.catalog.ingest import ExampleRow
from samdata.config import load_config
from samdata.model import CAPTURE_SOURCES, Example, InvalidExample, Message
from samdata.sources import openai_messages, sft

SOURCES = CAPTURE_SOURCES

__all__ = ["Capture", "InvalidExample", "record_conversation", "record_correction", "record_escalation"]


class Capture:
    """A writer bound to one catalog file; cheap to create, safe to use from many processes."""

    def __init__(self, catalog: Path | str) -> None:
        self.catalog_path = Path(os.path.expanduser(catalog))

    def _store(self, kind: str, example: Example, meta: dict[str, Any] | None, capture_id: str | None) -> str:
        locator = {"capture_id": capture_id or uuid.uuid4().hex}
        row = ExampleRow.of(example, locator, {**(meta or {}), "captured_at": utcnow()})
        with Catalog.open(self.catalog_path) as cat:
            cat.commit_batch(None, SOURCES[kind], f"capture://{kind}", [row], [], None, utcnow())
        return example.id

    def record_conversation(
        self,
        messages: list[dict[str, Any]],
        meta: dict[str, Any] | None = None,
        capture_id: str | None = None,
    ) -> str:
        """Store a conversation (OpenAI-style messages); returns the example id."""
        return self._store("conversation", sft(openai_messages(messages)).example, meta, capture_id)

    def record_correction(
        self,
        prompt: str | list[dict[str, Any]],
        original: str,
        corrected: str,
        meta: dict[str, Any] | None = None,
        capture_id: str | None = None,
    ) -> str:
        """Store the owner's correction of an answer as a preference pair (corrected = chosen)."""
        turns = [Message("user", prompt)] if isinstance(prompt, str) else openai_messages(prompt)
        example = Example(
            "preference", turns, [Message("assistant", corrected)], [Message("assistant", original)]
        )
        return self._store("correction", example, meta, capture_id)

    def record_escalation(
        self,
        prompt: str | list[dict[str, Any]],
        answer_from_stronger_model: str,
        meta: dict[str, Any] | None = None,
        capture_id: str | None = None,
    ) -> str:
        """Store a stronger model's answer to a prompt SAM escalated (distillation data)."""
        turns = [Message("user", prompt)] if isinstance(prompt, str) else openai_messages(prompt)
        example = Example("sft", [*turns, Message("assistant", answer_from_stronger_model)])
        return self._store("escalation", example, meta, capture_id)


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
