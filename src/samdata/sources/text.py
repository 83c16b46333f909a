"""Plain text JSONL (`{"text"}`): one assistant turn, trained as a whole (mlx-lm's text format)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.model import Example, InvalidExample, Message
from samdata.sources import Adapter, Context, Produced, require_dict, require_str


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    text = require_str(require_dict(record), "text")
    if not text.strip():
        raise InvalidExample("empty text")
    yield Produced(Example("sft", [Message("assistant", text)]))


ADAPTER = Adapter("text", 1, "record", convert)
