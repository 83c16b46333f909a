"""Rows in the shapes trainers read, guarding their known pitfalls (DESIGN.md):

- one compact JSON object per line, no blank line, no BOM (mlx-lm reads one `json.loads` per line);
- an explicit system message always (the Qwen2.5 template injects its own otherwise), per the
  recipe's policy: keep, add where missing, or replace;
- tool-call arguments as objects (a JSON string would be encoded twice by the template);
- no `train: false` marks (neither loader has per-turn masks): masked turns stay as context.

`mlx`: SFT as `{"messages", "tools"?}`; preference pairs as the `{"prompt", "chosen", "rejected",
"system"}` strings that mlx-lm-lora reads. `trl`: SFT as conversational `{"messages"}`; preference
pairs with an explicit prompt as message lists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from samdata.config import RecipeConfig


def _messages(turns: list[dict[str, Any]], changed: Counter[str]) -> list[dict[str, Any]]:
    out = []
    for m in turns:
        msg: dict[str, Any] = {"role": m["role"], "content": m["content"]}
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                args = c["arguments"]
                if isinstance(args, str):
                    try:
                        args = orjson.loads(args)
                    except orjson.JSONDecodeError:
                        args = {"input": args}
                        changed["tool arguments wrapped as {input: text}"] += 1
                call: dict[str, Any] = {
                    "type": "function",
                    "function": {"name": c["name"], "arguments": args},
                }
                if c.get("id"):
                    call["id"] = c["id"]
                calls.append(call)
            msg["tool_calls"] = calls
        if m.get("tool_call_id"):
            msg["tool_call_id"] = m["tool_call_id"]
        if m.get("name"):
            msg["name"] = m["name"]
        out.append(msg)
    return out


def _with_system(
    turns: list[dict[str, Any]], recipe: RecipeConfig, changed: Counter[str]
) -> list[dict[str, Any]]:
    has = bool(turns) and turns[0]["role"] == "system"
    if recipe.system_policy == "replace":
        changed["system prompt replaced"] += has
        changed["system prompt added"] += not has
        return [{"role": "system", "content": recipe.system_prompt}, *(turns[1:] if has else turns)]
    if not has and recipe.system_prompt:
        changed["system prompt added"] += 1
        return [{"role": "system", "content": recipe.system_prompt}, *turns]
    return turns


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"


def _sft_row(body: dict[str, Any], recipe: RecipeConfig, changed: Counter[str]) -> bytes | None:
    """The chat row both formats share: `{"messages", "tools"?}` (None for kinds they cannot hold)."""
    if body["kind"] != "sft":
        return None
    row: dict[str, Any] = {"messages": _with_system(_messages(body["messages"], changed), recipe, changed)}
    if body.get("tools"):
        row["tools"] = body["tools"]
    return _line(row)


def mlx_row(body: dict[str, Any], recipe: RecipeConfig, changed: Counter[str]) -> bytes | None:
    if body["kind"] == "preference":
        prompt = _with_system(_messages(body["messages"], changed), recipe, changed)
        system = prompt[0]["content"] if prompt and prompt[0]["role"] == "system" else ""
        users = [m for m in prompt if m["role"] != "system"]
        if len(users) > 1:
            changed["multi-turn DPO prompt flattened to its turns' text"] += 1
        row = {
            "prompt": "\n\n".join(m["content"] for m in users),
            "chosen": "\n\n".join(m["content"] for m in body["chosen"]),
            "rejected": "\n\n".join(m["content"] for m in body["rejected"]),
            "system": system,
        }
        return _line(row)
    return _sft_row(body, recipe, changed)


def trl_row(body: dict[str, Any], recipe: RecipeConfig, changed: Counter[str]) -> bytes | None:
    if body["kind"] == "preference":
        return _line(
            {
                "prompt": _with_system(_messages(body["messages"], changed), recipe, changed),
                "chosen": _messages(body["chosen"], changed),
                "rejected": _messages(body["rejected"], changed),
            }
        )
    return _sft_row(body, recipe, changed)


WRITERS: dict[str, Callable[[dict[str, Any], RecipeConfig, Counter[str]], bytes | None]] = {
    "mlx": mlx_row,
    "trl": trl_row,
}
