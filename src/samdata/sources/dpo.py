"""Preference data in every shape we meet, and KTO rows:

- prompt/chosen/rejected as strings, or as message lists (TRL conversational);
- implicit prompt: chosen/rejected are whole conversations; their shared prefix is the prompt;
- HH-RLHF: whole dialogues as `\\n\\nHuman:` / `\\n\\nAssistant:` strings;
- LLaMA-Factory: `conversations` + `chosen`/`rejected` from/value dicts, and v1 `chosen_messages` /
  `rejected_messages` with content parts;
- KTO: a conversation (or prompt/completion) with a boolean `label`, kept as a labelled example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from samdata.model import Example, InvalidExample, Message
from samdata.sources import (
    Adapter,
    Context,
    Produced,
    openai_messages,
    require_dict,
    require_str,
    sharegpt,
    split_shared_prefix,
)

_HH_TURN = re.compile(r"\n\nHuman:|\n\nAssistant:")


def hh_dialogue(text: str) -> list[Message]:
    """Turns of an HH-RLHF string."""
    if not isinstance(text, str):
        raise InvalidExample("HH-RLHF side is not text")
    marks = list(_HH_TURN.finditer(text))
    if not marks:
        raise InvalidExample("no `\\n\\nHuman:` / `\\n\\nAssistant:` turns")
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        role = "user" if "Human" in m.group() else "assistant"
        out.append(Message(role, text[m.end() : end].strip()))
    return out


def _side(value: Any) -> list[Message]:
    """One answer given as a string, a message dict, or a message list."""
    if isinstance(value, str):
        return [Message("assistant", value)]
    if isinstance(value, dict):
        if "from" in value:
            return sharegpt.turns([value])
        return openai_messages([value])
    return openai_messages(value)


def _pair(prompt: list[Message], chosen: list[Message], rejected: list[Message], **meta: Any) -> Produced:
    return Produced(Example("preference", prompt, chosen, rejected), dict(meta))


def _with_system(d: dict[str, Any], prompt: list[Message]) -> list[Message]:
    system = d.get("system")
    if isinstance(system, str) and system and (not prompt or prompt[0].role != "system"):
        return [Message("system", system), *prompt]
    return prompt


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    if isinstance(d.get("label"), bool):  # KTO
        if "messages" in d:
            messages = openai_messages(d["messages"])
        elif "conversations" in d:
            messages = sharegpt.turns(d["conversations"])
        else:
            messages = _prompt(d) + _side(d.get("completion"))
        yield Produced(Example("kto", _with_system(d, messages), label=d["label"]))
        return
    if "chosen_messages" in d:
        prompt, chosen, rejected = split_shared_prefix(
            openai_messages(d["chosen_messages"]), openai_messages(d["rejected_messages"])
        )
        yield _pair(prompt, chosen, rejected)
        return
    if "chosen" not in d or "rejected" not in d:
        raise InvalidExample("no chosen/rejected")
    if "conversations" in d:
        yield _pair(
            _with_system(d, sharegpt.turns(d["conversations"])), _side(d["chosen"]), _side(d["rejected"])
        )
        return
    if "prompt" in d:
        yield _pair(_with_system(d, _prompt(d)), _side(d["chosen"]), _side(d["rejected"]))
        return
    if isinstance(d["chosen"], str) and "\n\nHuman:" in d["chosen"]:
        prompt, chosen, rejected = split_shared_prefix(hh_dialogue(d["chosen"]), hh_dialogue(d["rejected"]))
        yield _pair(prompt, chosen, rejected)
        return
    prompt, chosen, rejected = split_shared_prefix(_side(d["chosen"]), _side(d["rejected"]))
    yield _pair(_with_system(d, prompt), chosen, rejected)


def _prompt(d: dict[str, Any]) -> list[Message]:
    prompt = d.get("prompt")
    if isinstance(prompt, list):
        return openai_messages(prompt)
    return [Message("user", require_str(d, "prompt"))]


ADAPTER = Adapter("dpo", 1, "record", convert)
