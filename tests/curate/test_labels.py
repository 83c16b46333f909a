"""Categories, language and token counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samdata.curate import categorize, language, tokens
from tests.conftest import real_fixtures


def chat(user: str, answer: str = "Sure.") -> dict:
    return {
        "kind": "sft",
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
    }


@pytest.mark.parametrize(
    ("user", "answer", "category"),
    [
        ("Who are you, and who made you?", "I am SAM.", "personality"),
        ("Act as a pirate captain and greet my crew.", "Arr!", "roleplay"),
        ("My Python script crashes with a KeyError traceback, how do I fix it?", "Use .get().", "debugging"),
        ("What does this do?\n```python\nprint(sum(range(10)))\n```", "It prints 45.", "code_explanation"),
        (
            "Write a function that reverses a string in JavaScript.",
            "```js\nconst r = s => [...s].reverse().join('')\n```",
            "code_generation",
        ),
        ("Is git rebase better than merge for a small team?", "It depends.", "code_general"),
        ("Plan a three-day itinerary for Lisbon.", "Day 1: …", "planning"),
        ("If a train leaves at 3pm going 60 mph, how many miles by 5pm? 60 * 2 = ?", "120.", "reasoning"),
        ("Should I ask my manager for a raise? I feel stuck in my career.", "Prepare evidence.", "coaching"),
        ("Explain why the sky is blue.", "Rayleigh scattering.", "explanation"),
        ("When did the Berlin Wall fall?", "1989.", "explanation"),
        ("Write a haiku about rain.", "Soft rain on the roof.", "general"),
    ],
)
def test_category_rules(user: str, answer: str, category: str) -> None:
    got, confidence, rule = categorize.classify(chat(user, answer))
    assert got == category and 0 < confidence <= 1 and rule == category


def test_agreement_with_dolly_categories() -> None:
    """Dolly ships a category per row; mapped to ours (DOLLY_TO_OURS) the rules agree on 4 of the 6
    real rows: the two closed_qa "When…?" questions and the open_qa "Why…?" are explanations, the
    stalemate question is general; the fish classification and the daughters riddle are not caught
    (they read as a factual question and as plain text)."""
    rows = [
        json.loads(x)
        for x in (real_fixtures() / "dolly" / "databricks-dolly-15k.jsonl").read_text().splitlines()
    ]
    agree = 0
    for r in rows:
        prompt = r["instruction"] + (f"\n\n{r['context']}" if r["context"] else "")
        agree += (
            categorize.classify(chat(prompt, r["response"]))[0] == categorize.DOLLY_TO_OURS[r["category"]]
        )
    assert agree / len(rows) == pytest.approx(4 / 6)


def test_language_detection() -> None:
    assert language.detect("This is a simple English sentence about cooking pasta at home.")[0] == "en"
    assert language.detect("Das ist ein einfacher deutscher Satz über das Kochen von Nudeln.")[0] == "de"
    assert language.detect("这是一个关于在家做意大利面的简单句子。我们需要水和盐。")[0] == "zh"
    assert language.detect("ok 42") == ("und", 0.0)
    lang, p = language.example_language(
        chat("Quelle heure est-il à Paris maintenant ?", "Il est midi à Paris.")
    )
    assert lang == "fr" and 0 < p <= 1


def test_qwen_token_counts() -> None:
    count = tokens.encoder("qwen2.5")
    assert count("Hello! How are you?") == 6  # [9707, 0, 2585, 525, 498, 30] in Qwen2.5's vocabulary
    figures = tokens.count(chat("Hello! How are you?", "Hello! How are you?"), count)
    assert figures == {"tokens": 6 + 6 + 2 * tokens.TEMPLATE_TOKENS_PER_TURN, "train_tokens": 6}


def test_tokenizer_folder(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        ["hello world again and again"], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    tok.save(str(tmp_path / "tokenizer.json"))
    count = tokens.encoder(str(tmp_path))
    assert count("hello world again") == 3


def test_language_on_a_labelled_multilingual_set() -> None:
    from tests.curate.multilingual import LABELLED

    wrong = [
        (want, text[:40], language.detect(text)[0])
        for want, text in LABELLED
        if language.detect(text)[0] != want
    ]
    assert len({w for w, _ in LABELLED}) == 13 and not wrong, wrong


def test_language_of_the_real_fixtures() -> None:
    """The fixtures are English datasets, plus LLaMA-Factory's identity set in English and Chinese:
    CLD2 gives at least 97 % of their records the language their script says (py3langid, the old
    detector, agreed with CLD2 on 97.7 % of these texts: bench/language.py)."""
    import json

    from tests.conftest import real_fixtures

    right = total = 0
    for path in sorted(real_fixtures().rglob("*.json*")):
        if "chatgpt" in str(path) or "claude" in str(path):
            continue
        raw = path.read_text()
        rows = (
            json.loads(raw)
            if path.suffix == ".json"
            else [json.loads(x) for x in raw.splitlines() if x.strip()]
        )
        for row in rows if isinstance(rows, list) else [rows]:
            text = " ".join(str(v) for v in row.values() if isinstance(v, str))[:2000]
            letters = [c for c in text if c.isalpha()]
            if len(letters) < 60:
                continue
            cjk = sum("\u4e00" <= c <= "\u9fff" for c in letters) / len(letters)
            total += 1
            right += language.detect(text)[0] == ("zh" if cjk > 0.3 else "en")
    assert total > 300 and right / total >= 0.97, (right, total)
