"""Language of an example's text, offline (py3langid: a model that ships inside the package)."""

from __future__ import annotations

import math
from typing import Any

import py3langid

VERSION = 1
SAMPLE_CHARS = 2000  # the language of a chat is clear from its first two thousand characters


def detect(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of `text`; ('und', 0.0) when there is nothing to judge."""
    sample = text[:SAMPLE_CHARS]
    if sum(c.isalpha() for c in sample) < 12:
        return "und", 0.0
    lang, _score = py3langid.classify(sample)
    ranked = py3langid.rank(sample)[:5]
    # langid's scores are log-probabilities: normalise over the top candidates for a probability.
    top = ranked[0][1]
    probability = 1.0 / sum(math.exp(score - top) for _l, score in ranked)
    return lang, round(probability, 3)


def example_language(body: dict[str, Any]) -> tuple[str, float]:
    parts = [m["content"] for m in body["messages"]] + [m["content"] for m in body.get("chosen") or []]
    return detect("\n".join(parts))
