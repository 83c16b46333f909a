"""Rows in the shapes trainers read, guarding their known pitfalls (DESIGN.md):

- one compact JSON object per line, no blank line, no BOM (mlx-lm reads one `json.loads` per line);
- an explicit system message always (the Qwen2.5 template injects its own otherwise): the export
  applies the recipe's policy (keep, add where missing, replace) before a writer sees the body;
- tool-call arguments as objects (a JSON string would be encoded twice by the template);
- no `train: false` marks (neither loader has per-turn masks): masked turns stay as context.

`mlx`: SFT as `{"messages", "tools"?}`; preference pairs as the `{"prompt", "chosen", "rejected",
"system"}` strings that mlx-lm-lora reads. `trl`: SFT as conversational `{"messages"}`; preference
pairs with an explicit prompt as message lists; KTO examples as unpaired `{"prompt", "completion",
"label"}` message lists. `sharegpt` and `alpaca`: LLaMA-Factory's two
dataset shapes, with the `dataset_info.json` it needs (`sidecars`). ShareGPT's turns must alternate
user side (human, observation) and model side (gpt, function_call), start on the user side and end
on the model side; LLaMA-Factory skips a row that breaks this with only a warning, so the writer
merges, trims or refuses such rows and counts what it did. Every format also gets an axolotl
dataset snippet (`axolotl.yaml`) pointing at the files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from samdata.config import RecipeConfig


class Unwritable(Exception):
    """A row the format cannot hold faithfully; the message is the reason the manifest counts."""


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


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"


def _sft_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    """The chat row both formats share: `{"messages", "tools"?}` (None for kinds they cannot hold)."""
    if body["kind"] != "sft":
        return None
    if not any(m["role"] == "user" for m in body["messages"]):
        raise Unwritable('no user turn: a plain-text example (export it with rows = "text")')
    row: dict[str, Any] = {"messages": _messages(body["messages"], changed)}
    if body.get("tools"):
        row["tools"] = body["tools"]
    return _line(row)


def mlx_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    if body["kind"] == "preference":
        prompt = _messages(body["messages"], changed)
        system = prompt[0]["content"] if prompt and prompt[0]["role"] == "system" else ""
        users = [m for m in prompt if m["role"] != "system"]
        if len(users) > 1:
            # Flattening would lose who said what; TRL's conversational rows keep the turns.
            raise Unwritable(
                'multi-turn prompt: mlx-lm-lora DPO rows hold one prompt string (format = "trl" keeps the turns)'
            )
        row = {
            "prompt": "\n\n".join(m["content"] for m in users),
            "chosen": "\n\n".join(m["content"] for m in body["chosen"]),
            "rejected": "\n\n".join(m["content"] for m in body["rejected"]),
            "system": system,
        }
        return _line(row)
    return _sft_row(body, changed)


def trl_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    if body["kind"] == "kto":  # TRL's unpaired preference rows: prompt, completion, label
        turns = _messages(body["messages"], changed)
        if len(turns) < 2 or turns[-1]["role"] != "assistant":
            return None
        return _line({"prompt": turns[:-1], "completion": turns[-1:], "label": bool(body["label"])})
    if body["kind"] == "preference":
        return _line(
            {
                "prompt": _messages(body["messages"], changed),
                "chosen": _messages(body["chosen"], changed),
                "rejected": _messages(body["rejected"], changed),
            }
        )
    return _sft_row(body, changed)


def _system_and_turns(body: dict[str, Any], changed: Counter[str]) -> tuple[str, list[dict[str, Any]]]:
    turns = _messages(body["messages"], changed)
    if turns and turns[0]["role"] == "system":
        return turns[0]["content"], turns[1:]
    return "", turns


def _sharegpt_turns(turns: list[dict[str, Any]], changed: Counter[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for m in turns:
        if m["role"] == "assistant" and m.get("tool_calls"):
            if m["content"].strip():
                changed["sharegpt: assistant text beside a tool call left out"] += 1
            calls = [c["function"] for c in m["tool_calls"]]
            turn = {
                "from": "function_call",
                "value": orjson.dumps(calls[0] if len(calls) == 1 else calls).decode(),
            }
        elif m["role"] == "assistant":
            turn = {"from": "gpt", "value": m["content"]}
        elif m["role"] == "tool":
            turn = {"from": "observation", "value": m["content"]}
        else:
            turn = {"from": "human", "value": m["content"]}
        user_side = turn["from"] in ("human", "observation")
        if out and (out[-1]["from"] in ("human", "observation")) == user_side:
            if turn["from"] in ("function_call",) or out[-1]["from"] == "function_call":
                changed["sharegpt: consecutive model turns kept the last"] += 1
                out[-1] = turn
            else:
                changed["sharegpt: consecutive turns of one side merged"] += 1
                out[-1] = {"from": out[-1]["from"], "value": out[-1]["value"] + "\n\n" + turn["value"]}
            continue
        if not out and not user_side:
            changed["sharegpt: leading model turn left out"] += 1
            continue
        out.append(turn)
    return out


def sharegpt_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    system, turns = _system_and_turns(body, changed)
    conv = _sharegpt_turns(turns, changed)
    row: dict[str, Any] = {"conversations": conv, "system": system}
    if body["kind"] == "preference":
        if not conv or conv[-1]["from"] not in ("human", "observation"):
            return None
        for side in ("chosen", "rejected"):
            row[side] = {"from": "gpt", "value": "\n\n".join(m["content"] for m in body[side])}
        return _line(row)
    if body["kind"] != "sft":
        return None
    while conv and conv[-1]["from"] in ("human", "observation"):
        changed["sharegpt: trailing user turn left out"] += 1
        conv.pop()
    if not conv:
        return None
    if body.get("tools"):
        row["tools"] = orjson.dumps(body["tools"]).decode()  # LLaMA-Factory reads tools as a JSON string
    return _line(row)


def alpaca_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    """`{"instruction", "input", "output" | "chosen"/"rejected", "system", "history"}`; tool turns and
    conversations that do not alternate user/assistant cannot be written (counted as dropped)."""
    system, turns = _system_and_turns(body, changed)
    if any(m["role"] not in ("user", "assistant") or m.get("tool_calls") for m in turns):
        return None
    if body["kind"] == "sft":
        if len(turns) % 2 or not turns:
            return None
        pairs = [(turns[i], turns[i + 1]) for i in range(0, len(turns), 2)]
    elif body["kind"] == "preference":
        if len(turns) % 2 == 0:
            return None
        pairs = [(turns[i], turns[i + 1]) for i in range(0, len(turns) - 1, 2)] + [(turns[-1], None)]
    else:
        return None
    if any(u["role"] != "user" or (a is not None and a["role"] != "assistant") for u, a in pairs):
        return None
    last_user, last_answer = pairs[-1]
    row: dict[str, Any] = {"instruction": last_user["content"], "input": ""}
    if body["kind"] == "preference":
        row["chosen"] = "\n\n".join(m["content"] for m in body["chosen"])
        row["rejected"] = "\n\n".join(m["content"] for m in body["rejected"])
    else:
        assert last_answer is not None
        row["output"] = last_answer["content"]
    row["system"] = system
    row["history"] = [[u["content"], a["content"]] for u, a in pairs[:-1] if a is not None]
    return _line(row)


def mlx_completions_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    """mlx-lm's `{"prompt", "completion"}`: single-turn SFT only. mlx-lm renders it with the chat
    template and no system message, so the template's own default system prompt applies."""
    turns = [m for m in body["messages"] if m["role"] != "system"]
    if (
        body["kind"] != "sft"
        or [m["role"] for m in turns] != ["user", "assistant"]
        or turns[1].get("tool_calls")
    ):
        return None
    if len(turns) < len(body["messages"]):
        changed["system prompt not representable in completions rows"] += 1
    return _line({"prompt": turns[0]["content"], "completion": turns[1]["content"]})


def text_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    """`{"text"}`, mlx-lm's text rows and TRL's language-modelling rows: plain text examples only
    (one assistant turn, as the text and document adapters make)."""
    turns = [m for m in body["messages"] if m["role"] != "system"]
    if body["kind"] != "sft" or len(turns) != 1 or turns[0]["role"] != "assistant":
        return None
    return _line({"text": turns[0]["content"]})


Writer = Callable[[dict[str, Any], Counter[str]], bytes | None]
WRITERS: dict[str, Writer] = {
    "mlx": mlx_row,
    "trl": trl_row,
    "sharegpt": sharegpt_row,
    "alpaca": alpaca_row,
}


def trl_completions_row(body: dict[str, Any], changed: Counter[str]) -> bytes | None:
    """TRL's conversational prompt/completion: the final assistant turns apart from what precedes
    them, so SFTTrainer's completion-only loss trains on them alone (any template, no markers)."""
    if body["kind"] != "sft":
        return None
    turns = _messages(body["messages"], changed)
    # The completion is every trailing assistant turn: a prompt that ended on an assistant turn
    # would make TRL continue that turn instead of starting a new one.
    cut = len(turns)
    while cut > 0 and turns[cut - 1]["role"] == "assistant":
        cut -= 1
    if cut == 0 or cut == len(turns):
        return None
    row: dict[str, Any] = {"prompt": turns[:cut], "completion": turns[cut:]}
    if body.get("tools"):
        row["tools"] = body["tools"]
    return _line(row)


_ROWS: dict[tuple[str, str], Writer] = {
    ("mlx", "completions"): mlx_completions_row,
    ("mlx", "text"): text_row,
    ("trl", "text"): text_row,
    ("trl", "completions"): trl_completions_row,
}


def writer_for(recipe: RecipeConfig) -> Writer:
    """The row writer of the recipe's format and row shape."""
    return _ROWS.get((recipe.format, recipe.rows)) or WRITERS[recipe.format]


_SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                  "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}  # fmt: skip


def _dataset_info(name: str, recipe: RecipeConfig, splits: list[str]) -> bytes:
    ranking = recipe.kinds == ["preference"]
    columns: dict[str, str]
    if recipe.format == "sharegpt":
        columns = {"messages": "conversations", "system": "system"}
        columns |= {"chosen": "chosen", "rejected": "rejected"} if ranking else {"tools": "tools"}
    else:
        columns = {"prompt": "instruction", "query": "input", "system": "system", "history": "history"}
        columns |= {"chosen": "chosen", "rejected": "rejected"} if ranking else {"response": "output"}
    info = {}
    for split in splits:
        entry: dict[str, Any] = {"file_name": f"{split}.jsonl", "formatting": recipe.format, "ranking": ranking,
                                 "columns": columns}  # fmt: skip
        if recipe.format == "sharegpt":
            entry["tags"] = _SHAREGPT_TAGS
        info[f"{name}_{split}"] = entry
    return orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n"


def _axolotl(name: str, recipe: RecipeConfig, splits: list[str]) -> bytes:
    def entry(split: str) -> str:
        head = f"  - path: {split}.jsonl\n    ds_type: json\n    split: train\n"
        if recipe.format == "alpaca":
            return head + "    type: alpaca\n"
        if recipe.format == "sharegpt":
            return head + ("    type: chat_template\n    field_messages: conversations\n"
                           "    message_property_mappings:\n      role: from\n      content: value\n"
                           "    roles:\n      user: [human]\n      assistant: [gpt]\n")  # fmt: skip
        return head + "    type: chat_template\n    field_messages: messages\n"

    lines = [f"# axolotl datasets for samdata export {name!r} ({recipe.format}); paste into your axolotl config.\n",
             "# Paths are relative to this folder (so the same catalog gives the same bytes): run axolotl\n",
             "# here, or prefix them with the folder. axolotl drops rows longer than sequence_len without a\n",
             "# word; samdata already applied max_tokens.\n"]  # fmt: skip
    if recipe.kinds == ["preference"]:
        lines.append(
            "# preference pairs: set `rl: dpo` and check the dataset type against your axolotl version.\n"
        )
    lines.append(f"sequence_len: {recipe.max_tokens or 2048}\n")
    lines.append("datasets:\n" + entry("train"))
    if "valid" in splits:
        lines.append("test_datasets:\n" + entry("valid"))
    return "".join(lines).encode()


def sidecars(name: str, recipe: RecipeConfig, splits: list[str]) -> dict[str, bytes]:
    """Files written beside the splits: LLaMA-Factory's dataset_info.json and an axolotl snippet."""
    files = {"axolotl.yaml": _axolotl(name, recipe, splits)}
    if recipe.format in ("sharegpt", "alpaca"):
        files["dataset_info.json"] = _dataset_info(name, recipe, splits)
    return files
