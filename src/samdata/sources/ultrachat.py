"""UltraChat: `{"id", "data": [user, assistant, user, assistant, ...]}`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.model import InvalidExample, Message
from samdata.sources import Adapter, Context, Produced, require_dict, sft


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    data = d.get("data")
    if not isinstance(data, list) or not data or not all(isinstance(t, str) for t in data):
        raise InvalidExample("`data` is not a non-empty list of strings")
    turns = [Message("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(data)]
    ids = {"id": d["id"]} if isinstance(d.get("id"), str | int) else {}
    yield sft(turns, **ids)


ADAPTER = Adapter("ultrachat", 1, "record", convert)
