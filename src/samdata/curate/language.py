"""Language of an example's text, offline: CLD2 (pycld2: compiled C++ with its tables inside the
wheel, ~20k texts/s on one core, 27x py3langid's speed at the same labels, see bench/language.py)."""

from __future__ import annotations

import re
from typing import Any

import pycld2

VERSION = 3
SAMPLE_CHARS = 1000  # the language of a chat is clear from its first thousand characters
_LETTERS = re.compile(r"[^\W\d_]")
# CLD2 refuses control characters and unpaired surrogates; neither carries language.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_CODES = {"zh-Hant": "zh", "un": "und", "xxx": "und"}


def detect(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, confidence 0-1) of `text`; ('und', 0.0) when there is nothing to judge."""
    sample = _UNSAFE.sub(" ", text[:SAMPLE_CHARS])
    # Too few letters to judge ("ok 42"); a long text without letters is CLD2's "unknown" below.
    if len(sample) < 64 and len(_LETTERS.findall(sample)) < 12:
        return "und", 0.0
    try:
        reliable, _bytes, details = pycld2.detect(sample)
    except pycld2.error:
        return "und", 0.0
    _name, code, percent, _score = details[0]
    code = _CODES.get(code, code)
    if code == "und":
        return "und", 0.0
    # The share of the text in the top language, halved when CLD2 itself calls the guess unreliable.
    return code, round(percent / 100 * (1.0 if reliable else 0.5), 3)


def example_language(body: dict[str, Any]) -> tuple[str, float]:
    parts = [m["content"] for m in body["messages"]] + [m["content"] for m in body.get("chosen") or []]
    return detect("\n".join(parts))
