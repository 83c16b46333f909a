"""PDFs read page by page: PDFs written here by fpdf2 (as report generators and exporters write them,
running heads and page numbers included) and, where Chromium is installed, printed by a browser;
a scan, encrypted and damaged files among them. Each page is one record of the account."""

from __future__ import annotations

import gzip
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import fpdf
import pytest

from samdata.catalog import Catalog
from samdata.ingest import run_ingest
from tests.conftest import config_for

TITLE = "Field Notes on Sourdough"
PAGE_1 = [
    "Mix equal weights of flour and water in a jar, for",
    "example 100 g of each, and leave it somewhere warm.",
    None,
    "Feed it every day. A well-",
    "known sign of a healthy starter is that it doubles",
    "within six hours of a feed, as in this exam-",
    "ple from a cold kitchen.",
]
PAGE_2 = [
    "Shape the dough gently and proof it overnight in the fridge.",
    "Bake it in a hot covered pot for forty minutes.",
]


class Notebook(fpdf.FPDF):  # type: ignore[misc]
    """A report as generators write it: a running head and "Page n/N" on every page."""

    def header(self) -> None:
        self.set_font("Helvetica", "I", 9)
        self.cell(0, 8, TITLE, align="R")
        self.ln(12)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 9)
        self.cell(0, 10, f"Page {self.page_no()}/{{nb}}", align="C")


def text_page(pdf: Any, heading: str, lines: list[str | None]) -> None:
    """A heading and lines set one by one (so the test knows where they break); None: a paragraph gap."""
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, heading)
    pdf.ln(14)
    pdf.set_font("Helvetica", size=12)
    for line in lines:
        if line is None:
            pdf.ln(4)
        else:
            pdf.cell(0, 6, line)
            pdf.ln(6)


def scanned_page(pdf: Any) -> None:
    """A page that is only a picture of text, as a scanner without OCR leaves it."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (600, 300), 255)
    ImageDraw.Draw(img).text((20, 20), "A photographed recipe card", fill=0)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    pdf.add_page()
    pdf.image(buf, x=15, y=30, w=180)


def notebook(path: Path, *, password: str | None = None) -> Path:
    pdf = Notebook()
    pdf.set_title(TITLE)
    pdf.set_author("Sam Baker")
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    text_page(pdf, "Keeping a starter", PAGE_1)
    text_page(pdf, "Baking day", PAGE_2)
    scanned_page(pdf)
    pdf.output(str(path))
    return path


def ingest(tmp_path: Path, sources: str) -> tuple[Catalog, Any]:
    config = config_for(tmp_path, sources)
    cat = Catalog.open(config.catalog_path)
    return cat, run_ingest(config, cat)


def test_text_pages_and_a_scan(tmp_path: Path) -> None:
    path = notebook(tmp_path / "notes.pdf")
    cat, _ = ingest(tmp_path, f'[[sources]]\nname = "pdfs"\npath = "{path}"\nformat = "pdf"\n')
    with cat:
        [account] = cat.accounts("pdfs")
        assert (account["records"], account["produced"], account["quarantined"]) == (3, 2, 0)
        assert account["skipped_by_reason"] == {"pdf: page without a text layer": 1}
        assert account["balanced"]
        # The running head (3 pages) and the page numbers (3) are not text of the pages.
        assert account["dropped_by_reason"] == {"pdf: page number": 3, "pdf: running header or footer": 3}
        examples = cat.examples_from(str(path))
    first = (
        "Keeping a starter\n\n"
        "Mix equal weights of flour and water in a jar, for\n"
        "example 100 g of each, and leave it somewhere warm.\n\n"
        # "well-known" stays hyphenated (a compound); "exam-ple" is "example", a word on the page.
        "Feed it every day. A well-\n"
        "known sign of a healthy starter is that it doubles\n"
        "within six hours of a feed, as in this example from a cold kitchen."
    )
    second = "Baking day\n\n" + "\n".join(PAGE_2)
    assert [e["body"]["messages"] for e in examples] == [
        [{"role": "assistant", "content": first}],
        [{"role": "assistant", "content": second}],
    ]
    assert [e["locator"] for e in examples] == [
        {"page": 1, "chunk": 0, "chars": [0, len(first)]},
        {"page": 2, "chunk": 0, "chars": [0, len(second)]},
    ]
    assert all(e["meta"] == {"title": TITLE, "author": "Sam Baker", "pages": 3} for e in examples)
    assert not any(TITLE in e["body"]["messages"][0]["content"] for e in examples)


def test_encrypted_and_damaged_files_are_quarantined_and_the_run_goes_on(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    good = notebook(docs / "good.pdf")
    notebook(docs / "locked.pdf", password="rye")
    data = good.read_bytes()
    (docs / "cut.pdf").write_bytes(data[: len(data) // 3])  # a download that stopped
    (docs / "junk.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    # Page 2's dictionary overwritten in place (same length, so the cross-reference table still
    # points at the right bytes): that page, and only that page, cannot be loaded.
    m = re.search(rb"5 0 obj\n(<<.*?>>)\nendobj", data, re.DOTALL)
    assert m is not None and b"/Type /Page" in m.group(1)
    broken = data[: m.start(1)] + b"(" + b"x" * (len(m.group(1)) - 2) + b")" + data[m.end(1) :]
    (docs / "torn.pdf").write_bytes(broken)
    # Compressed, it is a binary to the sniffer (no format of its own); named, it is read through.
    packed = tmp_path / "packed.pdf.gz"
    packed.write_bytes(gzip.compress(data))
    cat, report = ingest(
        tmp_path,
        f'[[sources]]\nname = "docs"\npath = "{docs}/*"\nformat = "auto"\n'
        f'[[sources]]\nname = "unlocked"\npath = "{docs}/locked.pdf"\nformat = "pdf"\n'
        'options = { password = "rye" }\n'
        f'[[sources]]\nname = "packed"\npath = "{packed}"\nformat = "pdf"\n',
    )
    with cat:
        assert {Path(f.path).name: f.format for f in report.files if f.source == "docs"} == dict.fromkeys(
            ["cut.pdf", "good.pdf", "junk.pdf", "locked.pdf", "torn.pdf"], "pdf"
        )
        accounts = {Path(a["file"]).name: a for a in cat.accounts("docs")}
        whole = "file cannot be read as pdf: "
        assert accounts["locked.pdf"]["quarantined_by_reason"] == {whole + "encrypted (needs a password)": 1}
        for name in ("cut.pdf", "junk.pdf"):
            [reason] = accounts[name]["quarantined_by_reason"]
            assert reason.startswith(whole + "cannot be opened: Failed to load document"), reason
            assert accounts[name]["records"] == 1 and accounts[name]["balanced"]
        torn = accounts["torn.pdf"]
        assert (torn["records"], torn["produced"], torn["skipped"]) == (3, 1, 1)
        assert torn["quarantined_by_reason"] == {"pdf: page cannot be loaded (Failed to load page.)": 1}
        assert [q["locator"] for q in cat.quarantined(source="docs") if q["file"].endswith("torn.pdf")] == [
            {"page": 2}
        ]
        assert (accounts["good.pdf"]["records"], accounts["good.pdf"]["produced"]) == (3, 2)
        for name in ("unlocked", "packed"):
            [account] = cat.accounts(name)
            assert (account["records"], account["produced"], account["quarantined"]) == (3, 2, 0)


def test_a_long_page_is_cut_between_paragraphs_and_stays_one_record(tmp_path: Path) -> None:
    pdf = fpdf.FPDF()
    paragraphs = [
        [f"Paragraph {n} line {i}: the oven stays hot and the loaf bakes evenly." for i in range(3)]
        for n in range(6)
    ]
    lines: list[str | None] = []
    for p in paragraphs:
        lines += [*p, None]
    text_page(pdf, "Oven notes", lines[:-1])
    pdf.add_page()  # nothing on it
    path = tmp_path / "long.pdf"
    pdf.output(str(path))
    cat, _ = ingest(
        tmp_path,
        f'[[sources]]\nname = "pdfs"\npath = "{path}"\nformat = "pdf"\noptions = {{ chunk_tokens = 60 }}\n',
    )
    with cat:
        [account] = cat.accounts("pdfs")
        assert (account["records"], account["produced"]) == (2, 1)
        assert account["skipped_by_reason"] == {"pdf: blank page": 1}
        examples = cat.examples_from(str(path))
    chunks = [e["body"]["messages"][0]["content"] for e in examples]
    assert len(chunks) > 2 and account["examples_by_kind"] == {"sft": len(chunks)}
    whole = "\n\n".join(["Oven notes", *("\n".join(p) for p in paragraphs)])
    assert "\n\n".join(chunks) == whole  # cut only at paragraph breaks, nothing lost
    assert [e["locator"]["chunk"] for e in examples] == list(range(len(chunks)))
    assert all(e["locator"]["page"] == 1 for e in examples)
    for e, chunk in zip(examples, chunks, strict=True):
        a, b = e["locator"]["chars"]
        assert whole[a:b] == chunk


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium to print a page")
def test_a_page_printed_by_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "proofing.html"
    page.write_text(
        "<!doctype html><html><head><title>Proofing notes</title><style>body{font:12pt serif;"
        "margin:2cm} p{margin:0 0 .6em}</style></head><body><h1>Proofing the dough</h1>"
        "<p>Proofing is the last rise before baking. The dough should grow by about half and spring"
        " back slowly when pressed with a floured finger.</p>"
        "<p>Cold proofing overnight in the fridge makes the loaf more sour.</p></body></html>"
    )
    path = tmp_path / "printed" / "proofing.pdf"
    path.parent.mkdir()
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={path}", page.as_uri()],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    if not path.exists():
        pytest.skip(f"Chromium could not print here: {done.stderr[-300:]!r}")
    cat, _ = ingest(tmp_path, f'[[sources]]\nname = "printed"\npath = "{path}"\nformat = "auto"\n')
    with cat:
        [account] = cat.accounts("printed")
        [example] = cat.examples_from(str(path))
    assert (account["records"], account["produced"], account["balanced"]) == (1, 1, True)
    text = example["body"]["messages"][0]["content"]
    blocks = [" ".join(b.split()) for b in text.split("\n\n")]
    assert blocks == [
        "Proofing the dough",
        "Proofing is the last rise before baking. The dough should grow by about half and spring back"
        " slowly when pressed with a floured finger.",
        "Cold proofing overnight in the fridge makes the loaf more sour.",
    ]
    assert example["meta"] == {"title": "Proofing notes", "pages": 1}
