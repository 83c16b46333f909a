"""Dolly: instruction/context/response; the context is folded into the user turn and Dolly's
category is kept as a label (provenance meta), not as content."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.sources import Adapter, Context, Produced, require_dict, require_str, sft, single_turn
from samdata.sources.alpaca import fold


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    prompt = fold(require_str(d, "instruction"), d.get("context"))
    meta = {"category": d["category"]} if isinstance(d.get("category"), str) else {}
    yield sft(single_turn(prompt, require_str(d, "response")), meta)


ADAPTER = Adapter("dolly", 1, "record", convert)
