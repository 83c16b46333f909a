"""Quality flags for chat examples: each a name, a reason and the numbers behind it.

The rules are deliberately plain so that a flag can be explained: answer length bounds,
refusal / AI-boilerplate phrases, truncated answers (no closing punctuation, an odd number of code
fences), Gopher-style repetition (share of duplicated lines, share of characters in the most
frequent word 2-gram), mojibake, placeholder text, user turns that are only a greeting, media tags
(`<image>`) a text-only export cannot carry, and wrappers a tool injected (`<system-reminder>`).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

VERSION = 3

REFUSALS = (
    "as an ai language model",
    "as a large language model",
    "as an ai assistant, i",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm sorry, but i can't",
    "i cannot fulfill",
    "i can't assist with",
    "i cannot assist with",
    "i'm not able to provide",
    "i do not have personal opinions",
    "i don't have personal opinions",
    "i don't have the ability to",
    "my knowledge cutoff",
)
_MOJIBAKE = re.compile(r"Ã[\u0080-\u00bf]|â€[\u0080-\u00bf™œ]|\ufffd|Â[\u00a0-\u00bf]")
_PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}|lorem ipsum|\[insert [^\]]{1,40}\]|\bTODO: fill", re.I)
_GREETING = re.compile(
    r"^\s*(hi|hello|hey|yo|hiya|howdy|good (morning|afternoon|evening)|greetings)( there)?[\s!.?,]*$", re.I
)
_WORD = re.compile(r"\w+")
# Media placeholders of multimodal sets (LLaMA-Factory, LLaVA): a text-only model sees only the tag.
_MEDIA = re.compile(r"<(image|video|audio)>")
# Text a tool injected into a turn: Claude Code reminders and CLI wrappers.
_WRAPPER = re.compile(
    r"<(system-reminder|command-name|command-message|local-command-stdout|local-command-stderr)>"
)
_END_OK = (*tuple(".!?…:;)]}\"'`*>|"), "```")


@dataclass(frozen=True)
class QualityRules:
    min_answer_chars: int = 1
    max_answer_chars: int = 24_000
    max_duplicate_line_share: float = 0.3  # Gopher: 0.30 of lines duplicated
    max_top_bigram_share: float = 0.2  # Gopher: 0.20 of characters in the top 2-gram
    truncation_min_chars: int = 200  # shorter answers often end without punctuation on purpose


def _marks(text: str) -> dict[str, str]:
    """Which pattern flags a text carries: kind → what matched first. A substring test in C comes
    first: most texts hold none of the literals, and then no regex runs at all."""
    found: dict[str, str] = {}
    if "<" in text:
        for kind, rx in (("media", _MEDIA), ("wrapper", _WRAPPER)):
            if m := rx.search(text):
                found[kind] = m.group(1)
    if ("Ã" in text or "â€" in text or "\ufffd" in text or "Â" in text) and (m := _MOJIBAKE.search(text)):
        found["mojibake"] = m.group()
    low = text.lower()
    if ("{{" in text or "lorem" in low or "[insert" in low or "todo: fill" in low) and (
        m := _PLACEHOLDER.search(text)
    ):
        found["placeholder"] = m.group()
    return found


def _flag(name: str, reason: str, **figures: Any) -> dict[str, Any]:
    return {"flag": name, "reason": reason, **({"figures": figures} if figures else {})}


def _repetition(text: str, rules: QualityRules) -> list[dict[str, Any]]:
    out = []
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if len(lines) >= 4:
        dup = 1 - len(set(lines)) / len(lines)
        if dup > rules.max_duplicate_line_share:
            out.append(_flag("repetition", "many lines repeat", duplicate_line_share=round(dup, 3)))
    words = text.lower().split()
    if len(words) >= 50:
        bigrams = Counter(itertools.pairwise(words))
        (a, b), n = bigrams.most_common(1)[0]
        share = n * (len(a) + len(b)) / max(len("".join(words)), 1)
        if share > rules.max_top_bigram_share:
            out.append(
                _flag("repetition", f"the 2-gram {a!r} {b!r} dominates", top_bigram_share=round(share, 3))
            )
    return out


def answer_flags(
    answer: str, rules: QualityRules, marks: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Flags of one assistant answer (`marks`: its `_marks`, when the caller has them)."""
    flags = []
    n = len(answer.strip())
    if n < rules.min_answer_chars:
        flags.append(
            _flag("too_short", "answer shorter than the minimum", chars=n, min=rules.min_answer_chars)
        )
    elif n > rules.max_answer_chars:
        flags.append(_flag("too_long", "answer longer than the maximum", chars=n, max=rules.max_answer_chars))
    low = answer.lower()
    hit = next((p for p in REFUSALS if p in low), None)
    if hit:
        flags.append(_flag("refusal_or_boilerplate", f"contains {hit!r}"))
    fences = answer.count("```")
    if fences % 2:
        flags.append(_flag("truncated", "unbalanced code fence", fences=fences))
    elif n >= rules.truncation_min_chars and not answer.rstrip().endswith(_END_OK):
        flags.append(_flag("truncated", "ends mid-sentence", last_chars=answer.rstrip()[-20:]))
    flags += _repetition(answer, rules)
    marks = _marks(answer) if marks is None else marks
    if "mojibake" in marks:
        flags.append(_flag("mojibake", "encoding damage such as 'Ã©' or '\\ufffd'"))
    if "placeholder" in marks:
        flags.append(_flag("placeholder", "template placeholder or lorem ipsum"))
    return flags


def example_flags(body: dict[str, Any], rules: QualityRules | None = None) -> list[dict[str, Any]]:
    """All flags of an example body (canonical dict): its answers, and its user turns."""
    rules = rules or QualityRules()
    if body["kind"] == "preference":
        answers = [m["content"] for m in body.get("chosen", []) if m["role"] == "assistant"]
    else:
        answers = [m["content"] for m in body["messages"][-1:] if m["role"] == "assistant"]
    seen: dict[int, dict[str, str]] = {}  # id(text) → its marks: each text scanned once

    def marks_of(text: str) -> dict[str, str]:
        if id(text) not in seen:
            seen[id(text)] = _marks(text)
        return seen[id(text)]

    flags = [f for a in answers for f in answer_flags(a, rules, marks_of(a))]
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    if users and all(_GREETING.match(u) for u in users):
        flags.append(_flag("greeting_only", "the user only greets"))
    if any("placeholder" in marks_of(u) for u in users):
        flags.append(_flag("placeholder", "template placeholder in the prompt"))
    texts = [m["content"] for side in ("messages", "chosen", "rejected") for m in body.get(side) or []]
    marks = [marks_of(t) for t in texts]
    media = sorted({m["media"] for m in marks if "media" in m})
    if media:
        flags.append(_flag("media_placeholder", f"<{media[0]}> tags: the media is not in a text-only export"))
    wrapper = next((m["wrapper"] for m in marks if "wrapper" in m), None)
    if wrapper:
        flags.append(_flag("injected_wrapper", f"<{wrapper}> text a tool injected, not the user's"))
    return flags
