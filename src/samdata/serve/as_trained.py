"""An example as the trainer sees it: the recipe's system-prompt policy applied, the ChatML template
(Qwen2.5's, which both backends use for these models) rendered turn by turn, tokens per turn with the
run's tokenizer (or curate's), which turns carry loss, and where `max_seq_length` cuts the sequence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from samdata.config import RecipeConfig
from samdata.curate.tokens import TEMPLATE_TOKENS_PER_TURN


@dataclass
class TrainedTurn:
    role: str
    content: str
    tokens: int  # content + the template's tokens around it
    start: int  # position of its first token in the sequence
    loss: bool  # its tokens carry loss
    cut: str = ""  # "" | "partly" | "all": beyond max_seq_length


@dataclass
class TrainedView:
    turns: list[TrainedTurn] = field(default_factory=list)
    total: int = 0
    max_seq_length: int = 2048
    mask_prompt: bool = False
    notes: list[str] = field(default_factory=list)


def as_trained(
    body: dict[str, Any], recipe: RecipeConfig | None, count: Callable[[str], int], max_seq_length: int,
    mask_prompt: bool,
) -> TrainedView:  # fmt: skip
    """`body`: a (redacted) sft body; `count`: text → tokens. With `mask_prompt` only assistant turns
    carry loss (mlx-lm `--mask-prompt`, TRL `assistant_only_loss`); without it every token does, which
    is both backends' default for chat rows."""
    from samdata.export import apply_system

    body = {**body, "messages": [dict(m) for m in body.get("messages", [])]}
    view = TrainedView(max_seq_length=max_seq_length, mask_prompt=mask_prompt)
    if recipe is not None:
        changed: Counter[str] = Counter()
        added, replaced = apply_system(body, recipe, changed)
        if added:
            view.notes.append("the recipe adds its system prompt")
        elif replaced is not None:
            view.notes.append("the recipe replaces the system prompt")
    position = 0
    for m in body["messages"]:
        content = m.get("content") or ""
        n = count(content) + TEMPLATE_TOKENS_PER_TURN
        trained = m.get("role") == "assistant" and m.get("train", True)
        turn = TrainedTurn(m.get("role", "?"), content, n, position, trained or not mask_prompt)
        if position >= max_seq_length:
            turn.cut = "all"
        elif position + n > max_seq_length:
            turn.cut = "partly"
        view.turns.append(turn)
        position += n
    view.total = position
    if position > max_seq_length:
        view.notes.append(f"{position - max_seq_length:,} tokens beyond max_seq_length are cut off")
    return view
