"""Canonical records: normalisation makes equal content one id; validation names what is wrong."""

from __future__ import annotations

import pytest

from samdata.model import Example, InvalidExample, Message, ToolCall, normalize_text


def chat(q: str, a: str) -> Example:
    return Example("sft", [Message("user", q), Message("assistant", a)])


def test_normalisation_makes_equal_content_one_id() -> None:
    base = chat("Café ok?", "Yes.\nSure.")
    assert chat("Cafe\u0301 ok?", "Yes.\r\nSure.  \n\n").id == base.id  # NFD, CRLF, trailing spaces
    assert chat("Café ok?", "Yes. Sure.").id != base.id
    assert len(base.id) == 32 and int(base.id, 16) >= 0


def test_canonical_json_is_sorted_and_omits_defaults() -> None:
    body = chat("q", "a").canonical_json()
    assert (
        body
        == b'{"kind":"sft","messages":[{"content":"q","role":"user"},{"content":"a","role":"assistant"}]}'
    )
    masked = Example(
        "sft", [Message("user", "q"), Message("assistant", "a", train=False), Message("assistant", "b")]
    )
    assert b'"train":false' in masked.canonical_json()
    call = ToolCall("lookup", {"b": 1, "a": 2}, "c1")
    tooled = Example(
        "sft",
        [
            Message("user", "q"),
            Message("assistant", "", tool_calls=[call]),
            Message("tool", "r", tool_call_id="c1"),
            Message("assistant", "done"),
        ],
    )
    assert b'"arguments":{"a":2,"b":1}' in tooled.canonical_json()
    assert Example.from_dict(tooled.to_dict()).id == tooled.id


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: Message("robot", "x"), "unknown role"),
        (lambda: Message("user", None), "content is NoneType"),  # type: ignore[arg-type]
        (lambda: Example("sft", []), "no messages"),
        (lambda: Example("sft", [Message("user", "q")]), "ends on a user turn"),
        (lambda: chat("q", "  "), "empty assistant turn"),
        (lambda: Example("sft", [Message("system", "s"), Message("assistant", "a")]), "no user turn"),
        (
            lambda: Example(
                "preference", [Message("user", "q")], [Message("assistant", "a")], [Message("assistant", "a")]
            ),
            "identical",
        ),
        (
            lambda: Example("preference", [], [Message("assistant", "a")], [Message("assistant", "b")]),
            "without a prompt",
        ),
        (lambda: Example("kto", [Message("user", "q"), Message("assistant", "a")]), "without a label"),
        (lambda: Example("dpo", []), "unknown example kind"),
    ],
)
def test_invalid_examples_say_why(build, reason: str) -> None:
    with pytest.raises(InvalidExample, match=reason):
        build()


def test_plain_text_example_and_normalize_text() -> None:
    assert Example("sft", [Message("assistant", "just text")]).kind == "sft"
    assert normalize_text("a \t\r\nb  \n\n") == "a\nb"
