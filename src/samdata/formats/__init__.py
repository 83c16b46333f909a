"""Format names and the record classifier that sniffs them from content, never from file names.

A file's format is a family (`sharegpt`, `dpo`, …) plus a variant that says which shape of that
family it is (`tools`, `kto`, `hh_rlhf`, …). Families are what ingest adapters are keyed on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

FORMATS: dict[str, str] = {
    "chat_jsonl": "chat messages (`messages`: role/content, optional tools)",
    "prompt_completion": "prompt/completion pairs",
    "text": "plain `text` records",
    "alpaca": "instruction/input/output (Alpaca, Code Alpaca) or prompt/response",
    "dolly": "Dolly: instruction/context/response/category",
    "evol_instruct": "Evol-Instruct: instruction/output or input/output",
    "sharegpt": "ShareGPT `conversations` from/value (incl. tools, multimodal)",
    "ultrachat": "UltraChat: `id` + `data` alternating turns",
    "oasst": "OpenAssistant message trees or flat message rows",
    "dpo": "preference pairs (prompt/chosen/rejected variants, HH-RLHF, KTO labels)",
    "correction": "corrections: original/corrected",
    "chatgpt_export": "ChatGPT export: conversations with `mapping`",
    "claude_code": "Claude Code session transcript",
    "sqlite": "SQLite database",
    "wav": "WAV audio",
    "mp4": "MP4/M4A (ISO BMFF) media",
    "zip": "zip archive",
    "git": "git repository (ingest only: one example per commit)",
    "html": "a saved web page (main text extracted)",
    "markdown": "Markdown or plain-text notes (front matter kept)",
    "pdf": "PDF (the text layer, page by page)",
    "warc": "web archive (WARC; its HTML responses)",
    "unknown": "not recognised",
}
DOCUMENT_FORMATS = frozenset({"html", "markdown", "pdf", "warc"})  # prose, cut into text chunks
WEB_FORMATS = frozenset({"html", "warc"})  # their sources must say under what licence

# Formats that hold training records; tiny files of these should be merged, and they count
# as the "flat files" an underused SQLite store is compared with (a note is small by nature).
DATA_FORMATS = frozenset(FORMATS) - {"sqlite", "wav", "mp4", "zip", "git", "unknown"} - DOCUMENT_FORMATS
MEDIA_FORMATS = frozenset({"wav", "mp4"})

# Prompt/answer key pairs of Alpaca-like rows beyond instruction/input/output (MetaMathQA writes
# query/response, FAQ sets question/answer, the seed's feedback files instruction/response).
_PAIRS = (("prompt", "response"), ("instruction", "response"), ("question", "answer"), ("query", "response"),
          ("instruction", "answer"), ("prompt", "answer"))  # fmt: skip
_SHAREGPT_TOOL_ROLES = {"function_call", "observation", "tool"}
_MEDIA_KEYS = ("images", "videos", "audios")


def _is_turn_list(value: Any, *keys: str) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], dict)
        and all(k in value[0] for k in keys)
    )


def _classify_preference(d: dict[str, Any]) -> str:
    chosen = d["chosen"]
    if "conversations" in d:
        return "sharegpt_pairs"
    if isinstance(chosen, dict):
        return "chosen_rejected_dicts"
    if "prompt" in d:
        return "prompt_chosen_rejected_messages" if isinstance(chosen, list) else "prompt_chosen_rejected"
    if isinstance(chosen, str) and "\n\nHuman:" in chosen:
        return "hh_rlhf"
    if isinstance(chosen, list):
        return "implicit_prompt_messages"
    return "implicit_prompt"


def classify_record(d: Any) -> tuple[str, str] | None:
    """Return (format, variant) for one parsed record, or None if no format fits."""
    if not isinstance(d, dict):
        return None
    if "mapping" in d and isinstance(d["mapping"], dict) and ("current_node" in d or "title" in d):
        return "chatgpt_export", "conversation"
    if "sessionId" in d and "type" in d:
        return "claude_code", str(d["type"])
    if d.get("type") == "summary" and "leafUuid" in d:
        return "claude_code", "summary"
    if "message_tree_id" in d and "prompt" in d:
        return "oasst", "tree"
    if "message_id" in d and "text" in d and "role" in d:
        # A root with nested replies reads on its own; a flat row needs the rest of its file.
        return "oasst", "nested" if isinstance(d.get("replies"), list) and d["replies"] else "messages"
    if "chosen" in d and "rejected" in d:
        return "dpo", _classify_preference(d)
    if "chosen_messages" in d and "rejected_messages" in d:
        return "dpo", "chosen_rejected_messages"
    if isinstance(d.get("label"), bool) and any(k in d for k in ("messages", "conversations", "completion")):
        return "dpo", "kto"
    if "original" in d and "corrected" in d:
        return "correction", "prompt_original_corrected" if "prompt" in d else "original_corrected"
    if _is_turn_list(d.get("conversations"), "from", "value"):
        turns = d["conversations"]
        if any(k in d for k in _MEDIA_KEYS):
            return "sharegpt", "multimodal"
        if "tools" in d or any(t.get("from") in _SHAREGPT_TOOL_ROLES for t in turns if isinstance(t, dict)):
            return "sharegpt", "tools"
        return "sharegpt", "conversations"
    if _is_turn_list(d.get("messages"), "role"):
        # LLaMA-Factory's sharegpt format with OpenAI-style tags carries media next to messages.
        if any(k in d for k in _MEDIA_KEYS):
            return "sharegpt", "multimodal"
        if "tools" in d or any(isinstance(m, dict) and m.get("tool_calls") for m in d["messages"]):
            return "chat_jsonl", "tools"
        return "chat_jsonl", "messages"
    if "data" in d and isinstance(d["data"], list) and all(isinstance(x, str) for x in d["data"][:4]):
        return "ultrachat", "data"
    if "instruction" in d and "context" in d and "response" in d:
        return "dolly", "instruction_context_response"
    if "instruction" in d and "output" in d:
        # Alpaca always carries `input` (often empty); Evol-Instruct rows have none.
        return (
            ("alpaca", "instruction_input_output")
            if "input" in d
            else ("evol_instruct", "instruction_output")
        )
    if "input" in d and "output" in d:
        return "evol_instruct", "input_output"
    for prompt, answer in _PAIRS:
        if prompt in d and answer in d:
            return "alpaca", f"{prompt}_{answer}"
    if "prompt" in d and "completion" in d:
        return "prompt_completion", "prompt_completion"
    if isinstance(d.get("text"), str) and len(d) <= 4:
        return "text", "text"
    return None


def vote(classes: Iterable[tuple[str, str] | None]) -> tuple[str, str | None]:
    """Pick a file's format from its first records' classes: the most common family wins.

    Records no format fits are ignored; a file where none fits is `unknown`. The variant is the
    most common one within the winning family, except that a `tools`/`multimodal` variant seen in
    any record wins, since plain rows are common in such files.
    """
    families: Counter[str] = Counter()
    variants: dict[str, Counter[str]] = {}
    for c in classes:
        if c is None:
            continue
        fam, var = c
        families[fam] += 1
        variants.setdefault(fam, Counter())[var] += 1
    if not families:
        return "unknown", None
    family = families.most_common(1)[0][0]
    seen = variants[family]
    if family == "oasst" and "messages" in seen:
        return family, "messages"  # one flat row needs the file-wise reader, which reads trees too
    for special in ("multimodal", "tools"):
        if special in seen:
            return family, special
    if family == "claude_code":
        return family, "session"
    return family, seen.most_common(1)[0][0]
