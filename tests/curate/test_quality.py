"""Quality flags: each fires on its case, with its reason, and clean answers stay clean."""

from __future__ import annotations

import pytest

from samdata.curate.quality import QualityRules, example_flags


def body(user: str, answer: str) -> dict:
    return {
        "kind": "sft",
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
    }


LONG_OK = "Use a context manager so the file is closed. " * 6 + "That is all."


@pytest.mark.parametrize(
    ("user", "answer", "flag"),
    [
        ("q", "x" * 30_000 + ".", "too_long"),
        ("Explain X", "As an AI language model, I cannot have opinions about X.", "refusal_or_boilerplate"),
        ("Write code", "Here it is:\n```python\nprint(1)\n", "truncated"),
        ("Explain", LONG_OK + " and then the next step is to open the", "truncated"),
        ("List", "\n".join(["same line here"] * 6 + ["other"]), "repetition"),
        ("Say", " ".join(["very good"] * 60) + ".", "repetition"),
        ("Translate", "The cafÃ© is open.", "mojibake"),
        ("Greet", "Dear {{name}}, thanks for your order.", "placeholder"),
        ("Fill", "Lorem ipsum dolor sit amet.", "placeholder"),
        ("hello!", "Hi! How can I help?", "greeting_only"),
    ],
)
def test_each_flag_fires(user: str, answer: str, flag: str) -> None:
    flags = example_flags(body(user, answer))
    assert flag in {f["flag"] for f in flags}, flags
    assert all(f["reason"] for f in flags)


def test_clean_answers_and_preferences() -> None:
    assert example_flags(body("How do I close a file?", LONG_OK)) == []
    assert example_flags(body("2+2?", "4")) == []  # by default only the length bounds of config apply
    pair = {
        "kind": "preference",
        "messages": [{"role": "user", "content": "q"}],
        "chosen": [{"role": "assistant", "content": "A careful answer."}],
        "rejected": [{"role": "assistant", "content": "As an AI language model, I cannot."}],
    }
    assert example_flags(pair) == []  # only the chosen side is trained toward
    assert example_flags(body("q", "ok"), QualityRules(min_answer_chars=5))[0]["figures"] == {
        "chars": 2,
        "min": 5,
    }


def text(content: str) -> dict:
    return {"kind": "sft", "messages": [{"role": "assistant", "content": content}]}


PROSE = (
    "The harbour fills twice a day as the tide comes in from the open sea. Fishing boats wait for "
    "high water before they leave, and the old stone quay shows the marks of every storm. "
) * 3
BANNER = "\n".join(["We use cookies to improve your experience.", "Privacy Policy", "Terms of Use"] * 3)
CODE_DOC = (
    PROSE
    + "\n\n```python\n"
    + "\n".join(f"x{i} = [{i}, {i} * 2, {i} ** 3]  # ..." for i in range(30))
    + "\n```\n"
)


@pytest.mark.parametrize(
    ("content", "flag"),
    [
        (PROSE + "\n" + BANNER, "boilerplate"),
        (
            "\n".join(f"- item {i} of the list of things to pack for the trip" for i in range(20)),
            "bullet_lines",
        ),
        (
            "\n".join(f"Read more about the story of the harbour number {i} ..." for i in range(20)),
            "ellipsis_lines",
        ),
        (" ".join(["#tag #sea #boat #tide word"] * 20), "symbols"),
        (" ".join(["12 34 56 78 90 harbour"] * 20), "non_alpha_words"),
        (" ".join(["supercalifragilisticexpialidocious"] * 60), "word_length"),
    ],
)
def test_prose_rules_fire_on_plain_text(content: str, flag: str) -> None:
    assert flag in {f["flag"] for f in example_flags(text(content))}


def test_prose_is_not_judged_as_an_answer() -> None:
    # A chunk ends where the paragraphs were cut: no "ends mid-sentence"; code blocks are not prose.
    assert example_flags(text(PROSE + "\n\n## Next section heading")) == []
    assert example_flags(text(CODE_DOC)) == []
    # The same text as an answer to a prompt is judged as an answer.
    assert {f["flag"] for f in example_flags(body("q", PROSE + "\n\n## Next section heading"))} == {
        "truncated"
    }
