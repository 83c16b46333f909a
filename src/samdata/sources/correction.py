"""Corrections (`original`/`corrected`, optional `prompt` or `messages`): a preference pair in which
the owner's correction is chosen and the assistant's original answer rejected."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.model import Example, InvalidExample, Message
from samdata.sources import Adapter, Context, Produced, openai_messages, require_dict, require_str


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    original, corrected = require_str(d, "original"), require_str(d, "corrected")
    if isinstance(d.get("messages"), list):
        prompt = openai_messages(d["messages"])
    elif isinstance(d.get("prompt"), str):
        prompt = [Message("user", d["prompt"])]
    else:
        raise InvalidExample("correction without a prompt: nothing to prefer the correction for")
    meta = {k: d[k] for k in ("reason", "category", "timestamp") if isinstance(d.get(k), str)}
    yield Produced(
        Example("preference", prompt, [Message("assistant", corrected)], [Message("assistant", original)]),
        meta,
    )


ADAPTER = Adapter("correction", 1, "record", convert)
