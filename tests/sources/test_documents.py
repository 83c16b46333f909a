"""What every document adapter shares: chunks by token count on paragraph boundaries, code blocks
whole, question/answer pairs only where the text has them, URLs of mirrored folders, and how ingest
recognises a document from its content."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samdata.curate.tokens import encoder
from samdata.formats.container import document_format, sniff
from samdata.ingest import _glob_base, _options
from samdata.sources import Context
from samdata.sources.documents import chunk_spans, chunks, file_url, paragraphs, qa_pairs
from tests.conftest import config_for

COUNT = encoder()

CODE = """```python
def area(r):

    return 3.14159 * r * r
```"""

NOTE = f"""# Tides

The tide rises twice a day. The moon pulls the sea.

A second paragraph about harbours,
written over two lines.

{CODE}

Last words.
"""


def test_paragraphs_keep_a_code_block_whole() -> None:
    spans = [NOTE[a:b] for a, b in paragraphs(NOTE)]
    assert spans == [
        "# Tides",
        "The tide rises twice a day. The moon pulls the sea.",
        "A second paragraph about harbours,\nwritten over two lines.",
        CODE,
        "Last words.",
    ]


def test_chunks_pack_paragraphs_up_to_the_token_budget() -> None:
    one = chunk_spans(NOTE, 10_000, COUNT)
    assert [NOTE[a:b] for a, b in one] == [NOTE.strip()]
    small = [NOTE[a:b] for a, b in chunk_spans(NOTE, 20, COUNT)]
    assert all(COUNT(c) <= 20 or c == CODE for c in small)
    assert CODE in small  # 23 tokens, over the budget, and still whole
    # Paragraphs of 3, 13, 12, 23 and 3 tokens: 3 + 13 fit together, 13 + 12 do not.
    assert small == [
        f"# Tides\n\n{NOTE.splitlines()[2]}",
        NOTE[NOTE.index("A second") : NOTE.index("lines.") + 6],
        CODE,
        "Last words.",
    ]
    # Nothing lost, nothing repeated: the chunks are the paragraphs in order.
    assert "\n\n".join(small) == "\n\n".join(NOTE[a:b] for a, b in paragraphs(NOTE))


def test_a_paragraph_longer_than_a_chunk_is_cut_at_sentence_ends() -> None:
    text = " ".join(f"Sentence number {i} says something about the sea." for i in range(40))
    spans = chunk_spans(text, 50, COUNT)
    assert len(spans) > 5
    parts = [text[a:b] for a, b in spans]
    assert all(COUNT(p) <= 50 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=60),
        max_size=12,
    ),
    st.integers(3, 40),
)
def test_chunks_cover_the_text_in_order(paras: list[str], budget: int) -> None:
    text = "\n\n".join(paras)
    spans = chunk_spans(text, budget, COUNT)
    assert spans == sorted(spans) and all(a < b for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    words = "".join(text.split())
    assert "".join("".join(text[a:b] for a, b in spans).split()) == words


def test_chunks_are_text_examples_with_their_place(tmp_path: Path) -> None:
    ctx = Context(tmp_path / "note.md", {"chunk_tokens": 20, "license": "CC-BY-4.0"})
    out = list(chunks("markdown", NOTE, ctx, {"page": 2}, {"title": "Tides"}, offset=100))
    assert [o.records for o in out] == [1] + [0] * (len(out) - 1)  # one record, several examples
    first = out[0]
    assert first.example.kind == "sft" and [m.role for m in first.example.messages] == ["assistant"]
    assert first.ids == {"page": 2, "chunk": 0, "chars": [100, 160]} and first.meta == {"title": "Tides"}
    assert [o.example.messages[0].content for o in out] == [NOTE[a - 100 : b - 100] for a, b in (o.ids["chars"] for o in out)]  # fmt: skip
    short = list(chunks("markdown", "Hi.", ctx, {}, {}))
    assert len(short) == 1 and short[0].reason == "markdown: no text to train on (under 8 tokens)"  # type: ignore[union-attr]


def test_question_answer_pairs_only_where_written() -> None:
    note = "Q: How often does the tide rise?\nA: Twice a day,\nroughly.\n\nQ: What pulls it?\nA: The moon.\n"
    assert qa_pairs(note) == [("How often does the tide rise?", "Twice a day,\nroughly."), ("What pulls it?", "The moon.")]  # fmt: skip
    faq = "# FAQ\n\n## Is it free?\n\nYes, for personal use.\n\n## Can I self-host it?\n\nYes.\n\n## Notes\n\nNone.\n"
    assert qa_pairs(faq) == [("Is it free?", "Yes, for personal use."), ("Can I self-host it?", "Yes.")]
    assert qa_pairs(NOTE) == []  # prose: no pairs are made up
    assert qa_pairs("Q: only one?\nA: yes") == []  # one pair is not an FAQ


def test_mirrored_folders_give_urls(tmp_path: Path) -> None:
    site = tmp_path / "mirror" / "docs.example.org"
    page = site / "guide" / "tides and moons.html"
    ctx = Context(page, {"url_prefix": "https://docs.example.org/", "url_base": str(site)})
    assert file_url(ctx) == "https://docs.example.org/guide/tides%20and%20moons.html"
    assert file_url(Context(page, {})) is None
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    assert _glob_base(f"{site}/**/*.html") == str(site)
    assert _glob_base(str(site)) == str(site)
    assert _glob_base(str(page)) == str(page.parent)
    config = config_for(
        tmp_path,
        f'[[sources]]\nname = "docs"\npath = "{site}/**/*.html"\nformat = "html"\nlicense = "CC-BY-4.0"\n'
        'url_prefix = "https://docs.example.org"\n',
    )
    assert _options(config.sources[0]) == {
        "license": "CC-BY-4.0", "url_prefix": "https://docs.example.org", "url_base": str(site),
    }  # fmt: skip


def test_web_content_needs_a_license(tmp_path: Path) -> None:
    for fmt in ("html", "warc"):
        with pytest.raises(Exception, match="needs a license"):
            config_for(tmp_path, f'[[sources]]\nname = "web"\npath = "/x"\nformat = "{fmt}"\n')
    config_for(tmp_path, '[[sources]]\nname = "notes"\npath = "/x"\nformat = "markdown"\n')  # notes: no need


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("page.html", b"<!DOCTYPE html>\n<html><body><p>x</p></body></html>", "html"),
        (
            "saved.htm",
            b"\xef\xbb\xbf<!-- saved from url=(0022)https://example.org/ -->\n<html lang=en>",
            "html",
        ),
        ("frag.html", b"<head><title>t</title></head><body>x</body>", "html"),
        ("xhtml", b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml">', "html"),
        ("crawl.warc", b"WARC/1.1\r\nWARC-Type: warcinfo\r\n\r\n", "warc"),
        ("paper.bin", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "pdf"),
        ("note.md", b"---\ntitle: x\n---\n# A note\n", "markdown"),
        ("links.md", b"[home](https://example.org) and more\n", "markdown"),  # sniffs as JSON, is a note
        ("rows.txt", b'{"text": "a"}\n{"text": "b"}\n', None),  # a .txt of JSON lines is data
        ("todo.TXT", b"buy rope\n", "markdown"),
        ("readme", b"plain text without a name that says note\n", None),
        ("data.jsonl", b'{"text": "a"}\n', None),
        ("table.html", b"<table><tr><td>1</td></tr></table>", None),  # a fragment is not a page
    ],
)
def test_documents_are_recognised_by_content(
    tmp_path: Path, name: str, content: bytes, fmt: str | None
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    container, _ = sniff(path, 200.0)
    assert document_format(container.kind, path) == fmt
    zipped = tmp_path / (name + ".gz")
    zipped.write_bytes(gzip.compress(content))
    container, _ = sniff(zipped, 200.0)
    # Compressed documents are read through: the same format.
    assert document_format(container.kind, zipped) == fmt
