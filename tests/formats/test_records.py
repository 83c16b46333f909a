"""Format sniffing: every real fixture is recognised as its folder's format, from content alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from samdata.config import ScanSettings
from samdata.formats import FORMATS, classify_record, vote
from samdata.scan.analyze import analyze_file
from tests.conftest import FIXTURES, real_fixtures


def _fixture_files() -> list[Path]:
    # Collected without failing when absent; test_every_fixture_folder_is_a_known_format fails in CI then.
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def test_every_fixture_folder_is_a_known_format() -> None:
    root = real_fixtures()
    folders = {p.name for p in root.iterdir() if p.is_dir()}
    assert folders >= {
        "alpaca",
        "chatgpt_export",
        "claude_code",
        "dolly",
        "dpo",
        "evol_instruct",
        "oasst",
        "sharegpt",
    }
    assert folders <= set(FORMATS), folders - set(FORMATS)
    assert len(_fixture_files()) >= 20


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: p.name)
def test_real_fixture_sniffed_as_its_folder(path: Path) -> None:
    expected = path.relative_to(real_fixtures()).parts[0]
    facts = analyze_file(path, ScanSettings())
    assert facts.format == expected, (facts.format, facts.variant)
    assert facts.records and facts.records > 0
    assert facts.bad_records == 0


def test_sniffing_ignores_the_file_name(tmp_path: Path) -> None:
    src = real_fixtures() / "dolly" / "databricks-dolly-15k.jsonl"
    disguised = tmp_path / "notes.txt"
    shutil.copyfile(src, disguised)
    assert analyze_file(disguised, ScanSettings()).format == "dolly"


def test_record_counts_match_sources_md() -> None:
    root = real_fixtures()
    settings = ScanSettings()
    # "records kept" column of SOURCES.md
    assert analyze_file(root / "alpaca" / "identity.json", settings).records == 91
    assert analyze_file(root / "oasst" / "en_100_tree.jsonl", settings).records == 15
    assert (
        analyze_file(
            root / "chatgpt_export/pkuppens-my_chat_gpt-2023-06/conversations.json", settings
        ).records
        == 5
    )
    assert analyze_file(root / "dpo/hh-rlhf-harmless-base/test.jsonl", settings).records == 50


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, ("chat_jsonl", "messages")),
        ({"messages": [{"role": "user", "content": "x"}], "tools": []}, ("chat_jsonl", "tools")),
        ({"prompt": "p", "completion": "c"}, ("prompt_completion", "prompt_completion")),
        ({"text": "hello"}, ("text", "text")),
        ({"instruction": "i", "input": "", "output": "o"}, ("alpaca", "instruction_input_output")),
        ({"prompt": "p", "response": "r"}, ("alpaca", "prompt_response")),
        ({"instruction": "i", "output": "o"}, ("evol_instruct", "instruction_output")),
        ({"input": "i", "output": "o"}, ("evol_instruct", "input_output")),
        (
            {"instruction": "i", "context": "", "response": "r", "category": "qa"},
            ("dolly", "instruction_context_response"),
        ),
        ({"id": "1", "data": ["q", "a"]}, ("ultrachat", "data")),
        ({"message_id": "m", "parent_id": None, "text": "t", "role": "prompter"}, ("oasst", "messages")),
        ({"prompt": "p", "chosen": "c", "rejected": "r"}, ("dpo", "prompt_chosen_rejected")),
        (
            {"prompt": [], "chosen": [{"role": "assistant"}], "rejected": []},
            ("dpo", "prompt_chosen_rejected_messages"),
        ),
        ({"chosen": [{"role": "user"}], "rejected": [{"role": "user"}]}, ("dpo", "implicit_prompt_messages")),
        ({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "x"}, ("dpo", "hh_rlhf")),
        ({"messages": [{"role": "user", "content": "x"}], "label": True}, ("dpo", "kto")),
        ({"original": "o", "corrected": "c"}, ("correction", "original_corrected")),
        ({"prompt": "p", "original": "o", "corrected": "c"}, ("correction", "prompt_original_corrected")),
        ({"conversations": [{"from": "human", "value": "v"}]}, ("sharegpt", "conversations")),
        (
            {"conversations": [{"from": "human", "value": "v"}], "images": ["a.png"]},
            ("sharegpt", "multimodal"),
        ),
        ({"type": "summary", "summary": "s", "leafUuid": "u"}, ("claude_code", "summary")),
        ({"title": "t", "mapping": {}, "current_node": "n"}, ("chatgpt_export", "conversation")),
        ({"foo": 1, "bar": 2}, None),
        ([1, 2], None),
    ],
)
def test_classify_record(record: object, expected: tuple[str, str] | None) -> None:
    assert classify_record(record) == expected


def test_vote_prefers_majority_and_special_variants() -> None:
    assert vote([None, ("dolly", "x"), ("dolly", "x"), ("alpaca", "y")]) == ("dolly", "x")
    assert vote([("sharegpt", "conversations"), ("sharegpt", "tools")]) == ("sharegpt", "tools")
    assert vote([None, None]) == ("unknown", None)
    assert vote([("claude_code", "queue-operation"), ("claude_code", "user")]) == ("claude_code", "session")
