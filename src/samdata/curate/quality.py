"""Quality flags for chat examples: each a name, a reason and the numbers behind it.

The rules are deliberately plain so that a flag can be explained: answer length bounds,
refusal / AI-boilerplate phrases, truncated answers (no closing punctuation, an odd number of code
fences), Gopher-style repetition (share of duplicated lines, share of characters in the most
frequent word 2-gram), mojibake, placeholder text, user turns that are only a greeting, media tags
(`<image>`) a text-only export cannot carry, and wrappers a tool injected (`<system-reminder>`).

Plain text (a document's chunk, a text row: one assistant turn, no prompt) is prose rather than an
answer: it gets the web-text rules of Gopher (symbol/word ratio, bullet and ellipsis lines, words
without letters, mean word length; Rae et al. 2021, as datatrove's GopherQualityFilter has them) and
C4's boilerplate lines (cookie and JavaScript notices, policy links; Raffel et al. 2020), measured
outside code blocks, instead of the answer's "ends mid-sentence" (a chunk ends where we cut it).
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

VERSION = 4

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
    # Gopher's web-text thresholds, and C4's share of boilerplate lines.
    max_symbol_word_ratio: float = 0.1  # "#" and "..." per word
    max_bullet_line_share: float = 0.9
    max_ellipsis_line_share: float = 0.3
    min_alpha_word_share: float = 0.8  # words with at least one letter
    mean_word_length: tuple[float, float] = (3.0, 10.0)
    max_boilerplate_line_share: float = 0.3
    prose_min_words: int = 50  # shorter text: too little to judge by ratios


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


_CODE_BLOCK = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*•‣◦–]|\d{1,3}[.)])\s")
# C4's line filters: JavaScript notices, cookie banners, policy and terms links.
_BOILERPLATE = re.compile(
    r"javascript|cookie|privacy policy|terms of (?:use|service)|all rights reserved|subscribe to our"
    r"|sign up for our newsletter|skip to (?:main )?content",
    re.IGNORECASE,
)


def prose_flags(text: str, rules: QualityRules) -> list[dict[str, Any]]:
    """Gopher's and C4's rules on plain text, outside its code blocks."""
    prose = _CODE_BLOCK.sub("", text)
    lines = [ln for ln in prose.split("\n") if ln.strip()]
    words = prose.split()
    flags = []
    if lines:
        boiler = sum(1 for ln in lines if _BOILERPLATE.search(ln)) / len(lines)
        if boiler > rules.max_boilerplate_line_share:
            flags.append(
                _flag("boilerplate", "cookie, JavaScript or policy lines (C4)", line_share=round(boiler, 3))
            )
    if len(words) < rules.prose_min_words:
        return flags
    symbols = (prose.count("#") + prose.count("...") + prose.count("…")) / len(words)
    if symbols > rules.max_symbol_word_ratio:
        flags.append(_flag("symbols", "many '#' or '...' per word (Gopher)", ratio=round(symbols, 3)))
    bullets = sum(1 for ln in lines if _BULLET.match(ln)) / len(lines)
    if bullets > rules.max_bullet_line_share:
        flags.append(
            _flag("bullet_lines", "almost every line is a bullet (Gopher)", line_share=round(bullets, 3))
        )
    ellipsis = sum(1 for ln in lines if ln.rstrip().endswith(("...", "…"))) / len(lines)
    if ellipsis > rules.max_ellipsis_line_share:
        flags.append(
            _flag("ellipsis_lines", "many lines end in '...' (Gopher)", line_share=round(ellipsis, 3))
        )
    alpha = sum(1 for w in words if any(c.isalpha() for c in w)) / len(words)
    if alpha < rules.min_alpha_word_share:
        flags.append(
            _flag("non_alpha_words", "many words without a letter (Gopher)", alpha_share=round(alpha, 3))
        )
    mean = sum(len(w) for w in words) / len(words)
    lo, hi = rules.mean_word_length
    if not lo <= mean <= hi:
        flags.append(_flag("word_length", "mean word length out of range (Gopher)", mean=round(mean, 2)))
    return flags


def _flag(name: str, reason: str, **figures: Any) -> dict[str, Any]:
    return {"flag": name, "reason": reason, **({"figures": figures} if figures else {})}


def _top_bigram_may_dominate(words: list[str], share: float) -> bool:
    """False when no 2-gram can hold more than `share` of the characters, from the word counts
    alone (counting every 2-gram costs twice as much): a 2-gram (a, b) seen n times has n at most
    count(a) and count(b), so its n·(|a| + |b|) characters are at most twice the largest count(w)·|w|."""
    counts = Counter(words)
    top = max(map(operator.mul, counts.values(), map(len, counts)))
    return 2 * top > share * sum(map(len, words))


def _repetition(text: str, rules: QualityRules) -> list[dict[str, Any]]:
    out = []
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if len(lines) >= 4:
        dup = 1 - len(set(lines)) / len(lines)
        if dup > rules.max_duplicate_line_share:
            out.append(_flag("repetition", "many lines repeat", duplicate_line_share=round(dup, 3)))
    words = text.lower().split()
    if len(words) >= 50 and _top_bigram_may_dominate(words, rules.max_top_bigram_share):
        bigrams = Counter(itertools.pairwise(words))
        (a, b), n = bigrams.most_common(1)[0]
        share = n * (len(a) + len(b)) / max(len("".join(words)), 1)
        if share > rules.max_top_bigram_share:
            out.append(
                _flag("repetition", f"the 2-gram {a!r} {b!r} dominates", top_bigram_share=round(share, 3))
            )
    return out


def answer_flags(
    answer: str, rules: QualityRules, marks: dict[str, str] | None = None, prose: bool = False
) -> list[dict[str, Any]]:
    """Flags of one assistant answer (`marks`: its `_marks`, when the caller has them); `prose`:
    plain text, judged by the web-text rules instead of as the end of an answer."""
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
    elif prose:
        flags += prose_flags(answer, rules)
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

    prose = body["kind"] == "sft" and [m["role"] for m in body["messages"] if m["role"] != "system"] == [
        "assistant"
    ]
    flags = [f for a in answers for f in answer_flags(a, rules, marks_of(a), prose)]
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
