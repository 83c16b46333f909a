from __future__ import annotations

import pytest

from samdata.paths import display_path, glob_match, human_size, is_below


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/a/*.jsonl", "/a/x.jsonl", True),
        ("/a/*.jsonl", "/a/b/x.jsonl", False),
        ("/a/**/*.jsonl", "/a/x.jsonl", True),
        ("/a/**/*.jsonl", "/a/b/c/x.jsonl", True),
        ("/a/**", "/a/b/c", True),
        ("/a/pair_??.json", "/a/pair_01.json", True),
        ("/a/pair_[0-9].json", "/a/pair_x.json", False),
        ("/Volumes/#1 (old)/*.json", "/Volumes/#1 (old)/x.json", True),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_is_below() -> None:
    assert is_below("/a/b/c", "/a/b")
    assert is_below("/a/b", "/a/b/")
    assert not is_below("/a/bc", "/a/b")
    assert is_below("/x", "/")


def test_human_size_and_display_path() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1536) == "1.5 KB"
    assert human_size(37_000_000_000) == "37.0 GB"
    assert display_path("/ok/é") == ("/ok/é", None)
    shown, raw = display_path("/x/caf\udce9")
    assert shown == "/x/caf\\xe9" and raw == b"/x/caf\xe9"
