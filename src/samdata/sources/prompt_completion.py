"""Prompt/completion JSONL (`{"prompt", "completion", "system"?}`), as mlx-lm and TRL read it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.sources import (
    Adapter,
    Context,
    Produced,
    openai_messages,
    require_dict,
    require_str,
    sft,
    single_turn,
)


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    if isinstance(d.get("prompt"), list):  # TRL's conversational prompt/completion
        yield sft(openai_messages(d["prompt"]) + openai_messages(d.get("completion")))
        return
    yield sft(single_turn(require_str(d, "prompt"), require_str(d, "completion"), d.get("system")))


ADAPTER = Adapter("prompt_completion", 1, "record", convert)
