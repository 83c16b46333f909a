"""Notes as people keep them: Markdown with YAML (Jekyll, Obsidian) or TOML (Hugo) front matter,
fenced code, Q:/A: study notes, plain .txt notes, Windows line ends and stray bytes; and a folder
of mixed documents read by format "auto"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from samdata.catalog import Catalog
from samdata.cli import app
from samdata.ingest import run_ingest
from samdata.sources.markdown import Note
from tests.conftest import config_for

CODE = "```bash\n# start the oven\noven --preheat 250\n\n# wait for it\nsleep 1800\n```"
JEKYLL = f"""---
layout: post
title: "Baking at altitude"
date: 2024-03-09 10:30:00 +01:00
tags: [bread, altitude]
url: https://notes.example.org/altitude
license: CC-BY-4.0
---

# Why dough rises faster up high

Air pressure is lower, so the gas in the dough expands more and the loaf rises faster.

## What to change

Use a little less yeast and a little more water, and watch the dough, not the clock.

{CODE}

That is all there is to it.
"""

STUDY = """# Sourdough quiz

Q: What makes sourdough sour?
A: Lactic and acetic acid from the bacteria in the starter.

Q: How often should a starter be fed?
A: Once or twice a day at room temperature,
about once a week in the fridge.
"""


def ingest(tmp_path: Path, body: str) -> tuple[Catalog, Any, Any]:
    (tmp_path / "samdata.toml").write_text(body)  # for the CLI
    config = config_for(tmp_path, body)
    cat = Catalog.open(config.catalog_path)
    return cat, run_ingest(config, cat), config


def source(name: str, path: Path, fmt: str = "auto", options: str = "") -> str:
    extra = f"options = {{ {options} }}\n" if options else ""
    return f'[[sources]]\nname = "{name}"\npath = "{path}"\nformat = "{fmt}"\n{extra}'


def texts(examples: list[dict[str, Any]]) -> list[str]:
    return [e["body"]["messages"][-1]["content"] for e in examples]


def test_front_matter_becomes_labels_and_a_code_block_stays_whole(tmp_path: Path) -> None:
    note = tmp_path / "altitude.md"
    note.write_text(JEKYLL)
    cat, _, _ = ingest(tmp_path, source("notes", note, options="chunk_tokens = 20"))
    with cat:
        [account] = cat.accounts("notes")
        examples = cat.examples_from(str(note))
    assert (account["records"], account["produced"], account["balanced"]) == (1, 1, True)
    assert account["dropped_by_reason"] == {}
    assert texts(examples) == [
        "# Why dough rises faster up high",
        "Air pressure is lower, so the gas in the dough expands more and the loaf rises faster.",
        "## What to change",
        "Use a little less yeast and a little more water, and watch the dough, not the clock.",
        CODE,  # 30 tokens, over the budget, blank line and all: never cut
        "That is all there is to it.",
    ]
    assert account["examples_by_kind"] == {"sft": 6}
    data = note.read_bytes()
    for i, e in enumerate(examples):
        a, b = e["locator"]["chars"]
        assert JEKYLL[a:b] == texts(examples)[i]
        start, end = e["locator"]["bytes"]
        assert data[start:end].decode() == texts(examples)[i]
        assert e["locator"]["chunk"] == i
    # Front matter: labels, not text; "layout" is no label; the date as ISO text.
    assert all(
        e["meta"]
        == {
            "title": "Baking at altitude",
            "date": "2024-03-09T10:30:00+01:00",
            "tags": ["bread", "altitude"],
            "url": "https://notes.example.org/altitude",
            "license": "CC-BY-4.0",
        }
        for e in examples
    )
    assert not any("layout" in t for t in texts(examples))


def test_toml_front_matter_and_the_title_from_the_first_heading(tmp_path: Path) -> None:
    note = tmp_path / "hugo.md"
    note.write_text(
        "+++\ndate = 2023-11-02\ntags = 'starter, rye'\ndraft = false\n+++\n"
        "```sh\n# not a heading: a comment in code\n```\n\n"
        "# Rye starter\n\nRye flour ferments faster than wheat and smells of fruit.\n"
    )
    cat, _, _ = ingest(tmp_path, source("notes", note))
    with cat:
        [example] = cat.examples_from(str(note))
    assert example["meta"] == {"title": "Rye starter", "date": "2023-11-02", "tags": ["starter", "rye"]}
    assert texts([example])[0].startswith("```sh\n# not a heading")


def test_broken_front_matter_is_counted_and_a_thematic_break_is_text(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "broken.md").write_text(
        "---\ntitle: [unclosed\ntags: a\n---\nThe body of a note whose front matter has a typo in it.\n"
    )
    (notes / "bad-date.md").write_text(
        "---\ndate: 2024-13-45\n---\nA note dated in the thirteenth month of the year.\n"
    )
    (notes / "rule.md").write_text(
        "---\nA note that opens with a rule,\nthen a few lines of prose.\n---\nAnd more after it.\n"
    )
    cat, _, _ = ingest(tmp_path, source("notes", notes / "*.md"))
    with cat:
        accounts = {Path(a["file"]).name: a for a in cat.accounts("notes")}
        broken = cat.examples_from(str(notes / "broken.md"))
        rule = cat.examples_from(str(notes / "rule.md"))
    assert accounts["broken.md"]["dropped_by_reason"] == {"markdown: front matter not YAML": 1}
    assert texts(broken) == ["The body of a note whose front matter has a typo in it."]
    assert broken[0]["meta"] == {}
    assert accounts["bad-date.md"]["dropped_by_reason"] == {"markdown: front matter not YAML": 1}
    assert accounts["rule.md"]["dropped_by_reason"] == {}
    assert texts(rule) == [(notes / "rule.md").read_text().strip()]
    assert all(a["records"] == a["produced"] == 1 for a in accounts.values())


def test_question_answer_notes_become_pairs_only_when_asked(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "quiz.md").write_text(STUDY)
    (notes / "prose.md").write_text("# Crumb\n\nAn open crumb comes from a wet dough and gentle shaping.\n")
    cat, _, _ = ingest(
        tmp_path,
        source("qa", notes / "*.md", "markdown", "qa = true")
        + source("plain", notes / "quiz.md", "markdown"),
    )
    with cat:
        quiz = [e for e in cat.examples_from(str(notes / "quiz.md")) if e["source"] == "qa"]
        plain = [e for e in cat.examples_from(str(notes / "quiz.md")) if e["source"] == "plain"]
        prose = cat.examples_from(str(notes / "prose.md"))
        accounts = {(a["source"], Path(a["file"]).name): a for a in cat.accounts()}
    assert [e["body"]["messages"] for e in quiz] == [
        [
            {"role": "user", "content": "What makes sourdough sour?"},
            {"role": "assistant", "content": "Lactic and acetic acid from the bacteria in the starter."},
        ],
        [
            {"role": "user", "content": "How often should a starter be fed?"},
            {
                "role": "assistant",
                "content": "Once or twice a day at room temperature,\nabout once a week in the fridge.",
            },
        ],
    ]
    assert [e["locator"] for e in quiz] == [{"pair": 0}, {"pair": 1}]
    assert quiz[0]["meta"] == {"title": "Sourdough quiz", "qa": True}
    qa = accounts[("qa", "quiz.md")]
    assert (qa["records"], qa["produced"], qa["examples_by_kind"]) == (1, 1, {"sft": 2})
    assert texts(plain) == [STUDY.strip()]  # without the option: the note as text
    assert texts(prose) == ["# Crumb\n\nAn open crumb comes from a wet dough and gentle shaping."]
    assert accounts[("qa", "prose.md")]["dropped_by_reason"] == {
        "markdown: qa asked, no question/answer structure": 1
    }


def test_text_notes_line_ends_bytes_and_empty_notes(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    # Notepad's UTF-8: a byte order mark and CRLF; one Latin-1 byte among the UTF-8 ("café").
    raw = (
        b"\xef\xbb\xbfShopping for the bakery:\r\nrye flour, salt, caf\xe9 filters\r\n\r\nAsk about the oven."
    )
    (notes / "todo.txt").write_bytes(raw)
    (notes / "empty.md").write_bytes(b"")
    (notes / "blank.txt").write_text("  \n\n\t\n")
    (notes / "only-front.md").write_text("---\ntitle: Later\n---\n")
    cat, report, _ = ingest(tmp_path, source("notes", notes / "*"))
    with cat:
        accounts = {Path(a["file"]).name: a for a in cat.accounts("notes")}
        [example] = cat.examples_from(str(notes / "todo.txt"))
    status = {Path(f.path).name: f.status for f in report.files}
    # Ingest reads nothing from an empty or blank file (the scan reports them): no record to account.
    assert status == {
        "blank.txt": "empty",
        "empty.md": "empty",
        "only-front.md": "ingested",
        "todo.txt": "ingested",
    }
    for name in ("blank.txt", "empty.md"):
        assert (accounts[name]["records"], accounts[name]["balanced"]) == (0, True)
    assert accounts["only-front.md"]["skipped_by_reason"] == {
        "markdown: no text to train on (under 8 tokens)": 1
    }
    todo = accounts["todo.txt"]
    assert todo["dropped_by_reason"] == {"markdown: invalid UTF-8 bytes replaced": 1}
    assert (todo["records"], todo["produced"]) == (1, 1)
    text = "Shopping for the bakery:\nrye flour, salt, caf\ufffd filters\n\nAsk about the oven."
    assert texts([example]) == [text]
    # chars count the text as read (BOM off, "\n" line ends); bytes point into the file as it is.
    assert example["locator"] == {"chunk": 0, "chars": [0, len(text)], "bytes": [3, len(raw)]}


@settings(max_examples=300, deadline=None)
@given(
    st.booleans(),
    st.lists(
        st.sampled_from(["a", " ", "é", "€", "😀", "\r\n", "\n", "\r", b"\xff", b"\xe9", b"\x80"]),
        max_size=40,
    ),
)
def test_every_char_offset_has_its_byte_offset(bom: bool, parts: list[str | bytes]) -> None:
    """Whatever the line ends and stray bytes, the bytes before a char offset are the text before it."""
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(
        p if isinstance(p, bytes) else p.encode() for p in parts
    )
    note = Note(data)
    for char in range(len(note.text) + 1):
        assert Note(data[: note.byte_offset(char)]).text == note.text[:char]
    assert note.byte_offset(len(note.text)) == len(data)


def test_examples_cli_lists_the_chunks_as_single_messages(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "altitude.md").write_text(JEKYLL)
    cat, _, _ = ingest(tmp_path, source("notes", notes / "*.md", "markdown", "chunk_tokens = 20"))
    with cat:
        chunks = texts(cat.examples_from(str(notes / "altitude.md")))
    result = CliRunner().invoke(
        app, ["examples", "--config", str(tmp_path / "samdata.toml"), "--source", "notes", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.stdout)["examples"]
    assert sorted(r["messages"][0]["content"] for r in rows) == sorted(chunks)
    assert all(r["kind"] == "sft" and len(r["messages"]) == 1 for r in rows)
    assert all(r["messages"][0]["role"] == "assistant" for r in rows)


def test_auto_reads_each_document_with_its_adapter(tmp_path: Path) -> None:
    import fpdf

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "altitude.md").write_text(JEKYLL)
    (folder / "todo.txt").write_text("Buy rye flour and salt, and ask the mill about spelt prices.\n")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 6, "A printed recipe: flour, water, salt and a little starter.")
    pdf.output(str(folder / "recipe.pdf"))
    cat, report, _ = ingest(tmp_path, source("mixed", folder / "*"))
    with cat:
        found = {Path(f.path).name: f.format for f in report.files}
        recipe = cat.examples_from(str(folder / "recipe.pdf"))
        todo = cat.examples_from(str(folder / "todo.txt"))
        altitude = cat.examples_from(str(folder / "altitude.md"))
    assert found == {"altitude.md": "markdown", "recipe.pdf": "pdf", "todo.txt": "markdown"}
    assert texts(recipe) == ["A printed recipe: flour, water, salt and a little starter."]
    assert recipe[0]["locator"] == {"page": 1, "chunk": 0, "chars": [0, 58]}
    assert texts(todo) == ["Buy rye flour and salt, and ask the mill about spelt prices."]
    assert altitude[0]["meta"]["title"] == "Baking at altitude"
