"""Documents through the whole pipeline: a folder of saved pages, a web archive, notes and a PDF,
read by `auto`, curated like chats (the same page saved twice is one example, a near copy is a
near-duplicate, a key in a note is redacted) and exported as text rows with their licences."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from samdata.catalog import Catalog
from samdata.curate import run_curate
from samdata.export import run_export
from samdata.ingest import run_ingest
from tests.conftest import config_for
from tests.sources.test_html import PARAGRAPHS, URL, article_html, chrome_saved, singlefile_header
from tests.sources.test_pdf import notebook
from tests.sources.test_warc import crawl

KEY = "AKIAQ3EGUFYP7XLMN2RT"
NOTE = f"""---
title: Deploy checklist
tags: [ops, aws]
---
# Deploy checklist

Before a release, run the whole test suite on a clean checkout, then tag the commit and push the
tag. The build server picks the tag up within a minute and publishes the wheel to the index.

The staging account uses the access key {KEY} for uploads; rotate it after every release so that a
leaked copy of this note is harmless a week later.
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("library")
    web, notes, papers = tmp / "web", tmp / "notes", tmp / "papers"
    for d in (web, notes, papers):
        d.mkdir()
    # The same post saved by Chrome and by SingleFile (other markup around it, same article), and
    # once more after the author fixed a word: a near copy.
    (web / "post.html").write_text(article_html(before_html=chrome_saved(URL)))
    (web / "post (1).html").write_text(
        singlefile_header(URL) + article_html().replace("Example Blog", "Example Blog (mirror)")
    )
    edited = [PARAGRAPHS[0].replace("several gigabytes", "many gigabytes"), *PARAGRAPHS[1:]]
    (web / "post-edited.html").write_text(article_html(paragraphs=edited))
    archive, uris = crawl(gz=True)
    (web / "crawl.warc.gz").write_bytes(archive.data)
    (notes / "deploy.md").write_text(NOTE)
    notebook(papers / "sourdough.pdf")
    body = f"""
[[sources]]
name = "web"
path = "{web}"
format = "auto"
license = "CC-BY-4.0"

[[sources]]
name = "notes"
path = "{notes}/**/*.md"
format = "auto"

[[sources]]
name = "papers"
path = "{papers}"
format = "auto"
license = "all-rights-reserved"
"""
    for fmt in ("mlx", "trl"):
        body += f"""
[recipes.docs-{fmt}]
sources = ["web", "notes", "papers"]
format = "{fmt}"
rows = "text"
splits = {{ train = 0.6, valid = 0.2, test = 0.2 }}
batch_size = 1
"""
    body += 'exclude_licenses = ["all-rights-reserved"]\n'  # the TRL recipe: only what may be shared
    config = config_for(tmp, body)
    with Catalog.open(config.catalog_path) as cat:
        ingest = run_ingest(config, cat)
        run_curate(config, cat)
        exports = {fmt: run_export(config, cat, f"docs-{fmt}", tmp / fmt) for fmt in ("mlx", "trl")}
        accounts = {s: cat.accounts(s) for s in ("web", "notes", "papers")}
        files = {p.name: cat.examples_from(str(p)) for d in (web, notes, papers) for p in d.iterdir()}
        clusters = cat.clusters()
    return {"ingest": ingest, "exports": exports, "accounts": accounts, "files": files, "clusters": clusters,
            "dirs": (web, notes, papers), "uris": uris}  # fmt: skip


def test_auto_reads_each_document_with_its_adapter_and_accounts_for_every_record(
    library: dict[str, Any],
) -> None:
    accounts = {Path(a["file"]).name: a for rows in library["accounts"].values() for a in rows}
    assert {Path(f.path).name: f.format for f in library["ingest"].files} == {
        "post.html": "html", "post (1).html": "html", "post-edited.html": "html", "crawl.warc.gz": "warc",
        "deploy.md": "markdown", "sourdough.pdf": "pdf",
    }  # fmt: skip
    assert all(a["balanced"] for a in accounts.values()), accounts
    assert accounts["sourdough.pdf"]["skipped_by_reason"] == {"pdf: page without a text layer": 1}
    assert accounts["crawl.warc.gz"]["produced"] == 2  # the crawl's two pages; the rest skipped by reason


def test_the_same_page_saved_twice_is_one_example_and_a_near_copy_a_near_duplicate(
    library: dict[str, Any],
) -> None:
    files = library["files"]
    ids = {name: [e["id"] for e in files[name]] for name in files}
    assert ids["post.html"] == ids["post (1).html"]  # same text, whatever surrounded it
    page_in_crawl = [
        e["id"] for e in files["crawl.warc.gz"] if e["locator"]["uri"] == library["uris"]["page"]
    ]
    assert page_in_crawl == ids["post.html"]
    urls = {e["meta"].get("url") for name in ("post.html", "post (1).html") for e in files[name]}
    assert urls == {URL}
    edited = ids["post-edited.html"]
    assert edited[0] != ids["post.html"][0]
    [cluster] = [c for c in library["clusters"] if {m["id"] for m in c["members"]} & {edited[0]}]
    assert {m["id"] for m in cluster["members"]} == {edited[0], ids["post.html"][0]}


def _rows(out_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in sorted(out_dir.glob("*.jsonl")) for line in p.read_text().splitlines()]


def test_exports_are_text_rows_with_licences_and_no_secret(library: dict[str, Any]) -> None:
    mlx, trl = library["exports"]["mlx"], library["exports"]["trl"]
    rows = _rows(mlx.out_dir)
    assert rows and all(set(r) == {"text"} for r in rows)
    text = "\n".join(r["text"] for r in rows)
    assert KEY not in text and "<AWS_ACCESS_KEY>" in text
    assert "We use cookies" not in text and "Popular posts" not in text
    assert mlx.manifest["dropped"] == {"near-duplicate of another example": 1}, mlx.manifest["dropped"]
    assert set(mlx.manifest["licenses"]) == {"CC-BY-4.0", "unstated", "all-rights-reserved"}
    assert sum(mlx.manifest["licenses"].values()) == len(rows)
    # The TRL recipe leaves out what is all-rights-reserved, and says so.
    assert set(trl.manifest["licenses"]) == {"CC-BY-4.0", "unstated"}
    pdf_rows = mlx.manifest["licenses"]["all-rights-reserved"]
    assert trl.manifest["dropped"]["license excluded (all-rights-reserved)"] == pdf_rows
    assert len(_rows(trl.out_dir)) == len(rows) - pdf_rows
