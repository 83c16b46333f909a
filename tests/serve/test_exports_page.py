"""The dashboard's Exports pages against the demo catalog after two pipeline runs (the second after
one new captured conversation): the list and every figure of an export's page equal the catalog's
`exports` row, its members and its manifest.json; each reason link lists exactly the examples export
left out or changed for it (checked one by one with `samdata.export.explain`, what `samdata show`
says); split members page through all of them; the diff page lists exactly the new conversation as
added (`Catalog.export_diff`'s figures); unknown exports get a 404 page. Then in headless Chromium:
the pages load with no console error, a reason link lists its examples, the compare form opens the
diff. No page shows a planted secret. Screenshots go to $SAMDATA_SCREENSHOTS (else a temporary
folder)."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from samdata.capture import Capture
from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.demo.estate import build_estate
from samdata.export import explain
from samdata.pipeline import run_pipeline
from samdata.serve import create_app
from tests.serve.browser import PLANTED, Watched, watch
from tests.serve.loadgen import Server

SPLITS = ("train", "valid", "test")


@dataclass
class Estate:
    config: Config
    first: dict[str, int]  # recipe → export id of the first run
    second: dict[str, int]  # recipe → export id after the capture
    new: str  # the captured example


def _exports(config: Config) -> dict[str, int]:
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        return {r: i for i, r in cat.conn.execute("SELECT id, recipe FROM exports ORDER BY id")}


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    path = build_estate(tmp_path_factory.mktemp("exports")).config_path
    # The demo's recipes export no live capture: let sam-sft take captured conversations too.
    text = path.read_text()
    head = '[recipes.sam-sft]\nsources = ["'
    assert head in text
    path.write_text(text.replace(head, head + 'capture:conversation", "', 1))
    config = load_config(path)
    assert "capture:conversation" in config.recipes["sam-sft"].sources
    run_pipeline(config)
    first = _exports(config)
    new = Capture(config.catalog_path).record_conversation(
        [{"role": "user", "content": "Which lighthouse guards the quokkaville harbour?"},
         {"role": "assistant", "content": "The old red one on the breakwater, lit since 1904."}]
    )  # fmt: skip
    run_pipeline(config, stages=["curate", "export"])
    second = _exports(config)
    assert second["sam-sft"] > first["sam-sft"], "the capture gives a new export of sam-sft"
    return Estate(config, first, second, new)


@pytest.fixture(scope="module")
def http(estate: Estate) -> Iterator[TestClient]:
    with TestClient(create_app(estate.config), base_url="http://127.0.0.1:8765") as client:
        yield client


def _get(http: TestClient, path: str, status: int = 200) -> str:
    r = http.get(path)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    assert not [s for s in PLANTED if s in r.text], (path, "a planted secret is shown")
    return r.text


def _row(estate: Estate, export_id: int) -> dict[str, Any]:
    with Catalog.open(estate.config.catalog_path, readonly=True) as cat:
        row = dict(cat.conn.execute("SELECT * FROM exports WHERE id = ?", (export_id,)).fetchone())
        row["members"] = cat.export_members(export_id)
    row["counts"] = orjson.loads(row["counts"])
    return row


def _example_links(page: str) -> list[str]:
    return re.findall(r'<a href="/examples/([0-9a-f]+)">', page)


def _table(page: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert found, table_id
    return found.group(1)


def _cells(row_html: str) -> list[str]:
    return [
        html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row_html, re.S)
    ]


def _n(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_list_shows_every_export_newest_first_with_the_catalogs_counts(
    estate: Estate, http: TestClient
) -> None:
    page = _get(http, "/exports")
    with Catalog.open(estate.config.catalog_path, readonly=True) as cat:
        rows = [dict(r) for r in cat.conn.execute("SELECT * FROM exports ORDER BY id DESC")]
    assert len(rows) == 6
    body = _table(page, "exports")
    shown = re.findall(r'<tr data-export="(\d+)">(.*?)</tr>', body, re.S)
    assert [int(i) for i, _ in shown] == [r["id"] for r in rows]
    for (_, cells_html), r in zip(shown, rows, strict=True):
        cells = _cells(cells_html)
        counts = orjson.loads(r["counts"])
        assert cells[:3] == [f"#{r['id']}", r["recipe"], r["created_at"]]
        assert [_n(c) for c in cells[3:6]] == [counts[s] for s in SPLITS]
        assert cells[6] == r["out_dir"]
    # each newer export links to the diff with the one before it of its recipe
    sft_old, sft_new = estate.first["sam-sft"], estate.second["sam-sft"]
    assert f'href="/exports/diff?a={sft_old}&amp;b={sft_new}"' in page
    # the compare form: every export in both pickers, preselected the newest and its predecessor
    assert page.count("<option ") == 2 * len(rows)
    newest = rows[0]
    assert re.search(rf'<select name="b"[^>]*>.*?<option value="{newest["id"]}" selected>', page, re.S)


def test_an_exports_page_shows_its_counts_manifest_recipe_and_files(estate: Estate, http: TestClient) -> None:
    export_id = estate.second["sam-sft"]
    x = _row(estate, export_id)
    manifest = orjson.loads((Path(x["out_dir"]) / "manifest.json").read_bytes())
    page = _get(http, f"/exports/{export_id}")
    assert "alert" not in page  # its manifest is the recorded one
    counts = _table(page, "counts")
    for s in SPLITS:
        found = re.search(rf'<tr data-split="{s}">(.*?)</tr>', counts, re.S)
        assert found, s
        cells = _cells(found.group(1))
        assert _n(cells[1]) == x["counts"][s] == manifest["counts"][s]
        assert _n(cells[2]) == sum(1 for v in x["members"].values() if v == s)
        assert _n(cells[3]) == manifest["tokens"][s]["total"] and _n(cells[4]) == manifest["tokens"][s]["max"]
    assert manifest["dropped"] and manifest["changed"]
    for kind in ("dropped", "changed"):
        table = _table(page, kind)
        for reason, n in manifest[kind].items():
            link = f"/exports/{export_id}/members?{urlencode({kind: reason})}"
            assert re.search(rf'<a class="reason" href="{re.escape(html.escape(link))}">{re.escape(html.escape(reason))}</a>'
                             rf"</td><td class=\"num\">{n:,}</td>", table), (kind, reason)  # fmt: skip
    files = _cells(_table(page, "files"))
    for name, sha in {**manifest["files"], "manifest.json": x["manifest_sha256"]}.items():
        assert name in files and files[files.index(name) + 1] == sha
    recipe = dict(zip(*[iter(_cells(_table(page, "recipe")))] * 2, strict=True))
    assert recipe["system_prompt"] == estate.config.recipes["sam-sft"].system_prompt
    assert recipe["format"] == "mlx" and orjson.loads(recipe["splits"]) == {
        "train": 0.8,
        "valid": 0.1,
        "test": 0.1,
    }
    # the first run's folder now holds the second's manifest: said, and only catalog figures shown
    old = _get(http, f"/exports/{estate.first['sam-sft']}")
    assert "holds another export&#39;s manifest" in old or "holds another export's manifest" in old
    assert 'id="dropped"' not in old
    assert (
        _n(_cells(re.search(r'<tr data-split="train">(.*?)</tr>', old, re.S).group(1))[1])
        == (  # type: ignore[union-attr]
            _row(estate, estate.first["sam-sft"])["counts"]["train"]
        )
    )


def _walk(http: TestClient, path: str) -> list[str]:
    """Every example listed on `path` and the pages its next links lead to."""
    ids: list[str] = []
    while path:
        page = _get(http, path)
        ids += _example_links(page)
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        path = html.unescape(found.group(1)) if found else ""
    return ids


def test_reason_links_list_exactly_the_examples_left_out_or_changed_for_it(
    estate: Estate, http: TestClient
) -> None:
    config, export_id = estate.config, estate.second["sam-sft"]
    x = _row(estate, export_id)
    manifest = orjson.loads((Path(x["out_dir"]) / "manifest.json").read_bytes())
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        recipe = config.recipes["sam-sft"]
        verdicts = {
            row["id"]: explain(config, "sam-sft", row)
            for row in cat.export_candidates(recipe.sources, recipe.kinds)
        }
    for reason, n in manifest["dropped"].items():
        listed = _walk(http, f"/exports/{export_id}/members?dropped={quote(reason)}")
        expected = sorted(i for i, v in verdicts.items() if not v["in"] and v["reason"] == reason)
        assert listed == expected and len(listed) == n, reason
        assert not set(listed) & set(x["members"])
    reason = "system prompt added"
    listed = _walk(http, f"/exports/{export_id}/members?changed={quote(reason)}")
    expected = sorted(i for i, v in verdicts.items() if v["in"] and reason in v["changed"])
    assert listed == expected and len(listed) == manifest["changed"][reason] > 50  # more than one page
    assert set(listed) <= set(x["members"])
    assert estate.new in listed  # the captured conversation had no system prompt
    # a reason the export never gave lists nothing
    assert _example_links(_get(http, f"/exports/{export_id}/members?dropped=no+such+reason")) == []


def test_split_members_page_through_all_of_them(estate: Estate, http: TestClient) -> None:
    export_id = estate.second["sam-dpo"]
    members = _row(estate, export_id)["members"]
    for s in SPLITS:
        listed = _walk(http, f"/exports/{export_id}/members?split={s}")
        assert listed == sorted(i for i, v in members.items() if v == s), s
    first = _get(http, f"/exports/{export_id}/members?split=train")
    assert len(_example_links(first)) == 50 and 'rel="next"' in first and 'rel="prev"' not in first


def test_the_diff_after_a_capture_lists_exactly_the_new_conversation(
    estate: Estate, http: TestClient
) -> None:
    a, b = estate.first["sam-sft"], estate.second["sam-sft"]
    with Catalog.open(estate.config.catalog_path, readonly=True) as cat:
        diff = cat.export_diff(a, b)
    assert [e["id"] for e in diff["entered"]] == [estate.new] and not diff["left"] and not diff["moved"]
    page = _get(http, f"/exports/diff?a={a}&b={b}")
    summary = re.sub(r"<[^>]+>", "", re.search(r'<p id="summary">(.*?)</p>', page, re.S).group(1))  # type: ignore[union-attr]
    assert summary == f"1 added, 0 removed, 0 moved between splits, {diff['unchanged']:,} unchanged"
    sections = dict(re.findall(r'<section id="(added|removed|moved)">(.*?)</section>', page, re.S))
    assert _example_links(sections["added"]) == [estate.new]
    assert f"<td>{diff['entered'][0]['split']}</td>" in sections["added"]
    assert _example_links(sections["removed"]) == [] and _example_links(sections["moved"]) == []
    # the other way round: it is removed; between two recipes of other kinds: capped lists, totals
    back = _get(http, f"/exports/diff?a={b}&b={a}")
    assert _example_links(re.search(r'<section id="removed">(.*?)</section>', back, re.S).group(1)) == [
        estate.new
    ]  # type: ignore[union-attr]
    dpo = estate.second["sam-dpo"]
    with Catalog.open(estate.config.catalog_path, readonly=True) as cat:
        cross = cat.export_diff(b, dpo)
    page = _get(http, f"/exports/diff?a={b}&b={dpo}")
    removed = re.search(r'<section id="removed">(.*?)</section>', page, re.S).group(1)  # type: ignore[union-attr]
    assert f'<span class="count">{len(cross["left"]):,}</span>' in removed
    assert _example_links(removed) == [e["id"] for e in cross["left"][:200]]
    rest = _walk(http, f"/exports/diff?a={b}&b={dpo}&list=removed&offset=200")
    assert rest == [e["id"] for e in cross["left"][200:]]


def test_unknown_exports_get_a_404_page(estate: Estate, http: TestClient) -> None:
    for path in ("/exports/999", "/exports/abc", "/exports/999/members?split=train",
                 f"/exports/diff?a={estate.first['sam-sft']}&b=999"):  # fmt: skip
        page = _get(http, path, 404)
        assert "No export" in page and "<title>Not found · samdata</title>" in page, path
    assert "Pick two exports" in _get(http, "/exports/diff?a=1", 400)


def test_in_the_browser_a_reason_link_lists_its_examples(estate: Estate, browser: Browser) -> None:
    assert estate.config.config_path is not None
    screens = Path(os.environ.get("SAMDATA_SCREENSHOTS") or estate.config.catalog_path.parent / "screens")
    screens.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {screens}")
    server = Server(estate.config.config_path)
    server.start()
    tab: Watched = watch(browser)
    page = tab.page
    try:
        export_id = estate.second["sam-sft"]
        tab.goto(server.url + "/exports")
        page.screenshot(path=screens / "exports.png", full_page=True)
        with page.expect_navigation():
            page.locator(f'#exports a[href="/exports/{export_id}"]').click()
        assert page.url.endswith(f"/exports/{export_id}")
        page.screenshot(path=screens / "export.png", full_page=True)
        manifest = orjson.loads(
            (estate.config.catalog_path.parent / "exports/sam-sft/manifest.json").read_bytes()
        )
        reason, n = next(iter(manifest["dropped"].items()))
        with page.expect_navigation():
            page.locator("#dropped a.reason", has_text=reason).click()
        expect(page.locator("#members tbody tr")).to_have_count(n)
        expect(page.locator("#total")).to_contain_text(f"{n} example")
        page.screenshot(path=screens / "export-dropped.png", full_page=True)
        with page.expect_navigation():
            page.locator("#members a").first.click()
        assert "/examples/" in page.url
        # the compare form, defaulting to the newest export and its predecessor of the same recipe
        tab.goto(server.url + "/exports")
        page.select_option("select[name=a]", str(estate.first["sam-sft"]))
        page.select_option("select[name=b]", str(export_id))
        with page.expect_navigation():
            page.get_by_role("button", name="Compare").click()
        expect(page.locator("#added a")).to_have_count(1)
        expect(page.locator("#added a")).to_have_text(estate.new)
        page.screenshot(path=screens / "exports-diff.png", full_page=True)
        for path in (f"/exports/{export_id}/members?split=valid", "/exports/999"):
            tab.goto(server.url + path, 404 if path.endswith("999") else 200)
            assert not [s for s in PLANTED if s in page.inner_text("body")], path
        tab.errors[:] = [e for e in tab.errors if "404" not in e]  # the 404 page's own status
        tab.clean()
    finally:
        page.context.close()
        server.stop()
