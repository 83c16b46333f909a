"""Alpaca and Code Alpaca: instruction/input/output (input folded into the user turn), LLaMA-Factory's
`system` and `history`, and the rows of the same shape with other keys: prompt/response,
instruction/response, question/answer, query/response."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.model import InvalidExample, Message
from samdata.sources import Adapter, Context, Produced, require_dict, require_str, sft

_PROMPTS = ("instruction", "prompt", "question", "query")
_ANSWERS = ("output", "response", "answer")


def fold(instruction: str, extra: Any) -> str:
    """The user turn: the instruction, then its input/context after a blank line."""
    if extra is None or extra == "":
        return instruction
    if not isinstance(extra, str):
        raise InvalidExample(f"input is {type(extra).__name__}, not text")
    return f"{instruction}\n\n{extra}"


def history_turns(history: Any) -> list[Message]:
    if not history:
        return []
    if not isinstance(history, list) or not all(isinstance(h, list) and len(h) == 2 for h in history):
        raise InvalidExample("history is not a list of [question, answer] pairs")
    turns = []
    for q, a in history:
        turns += [Message("user", q), Message("assistant", a)]
    return turns


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    prompt_key = next((k for k in _PROMPTS if k in d), "instruction")
    answer_key = next((k for k in _ANSWERS if k in d), "output")
    prompt = fold(require_str(d, prompt_key), d.get("input") if prompt_key != "input" else None)
    answer = require_str(d, answer_key)
    system = d.get("system")
    turns = [Message("system", system)] if isinstance(system, str) and system else []
    yield sft(
        [*turns, *history_turns(d.get("history")), Message("user", prompt), Message("assistant", answer)]
    )


ADAPTER = Adapter("alpaca", 1, "record", convert)
