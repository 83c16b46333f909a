"""The dashboard in a real headless Chromium against a real `samdata serve` process, on the demo
catalog: every page loads with no console error (a CSP violation is one) and no page error; the
header search and a facet give the catalog's counts; the secrets review queue works by keyboard
(j/k/a/r/s/u), stores and undoes decisions, and curate re-applies an allowed finding; a decision
posted without the page's CSRF token is refused. Screenshots of every page are kept in
$SAMDATA_SCREENSHOTS (else a temporary folder; the test prints where).

Chromium is the system one (/usr/bin/chromium, installed by .ci/run); nothing is downloaded. Its
absence is a failure, not a skip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.demo.estate import build_estate
from samdata.pipeline import run_pipeline
from tests.serve.browser import PLANTED, Watched
from tests.serve.loadgen import Server


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    estate = build_estate(tmp_path_factory.mktemp("pages"))
    config = load_config(estate.config_path)
    run_pipeline(config, stages=["scan", "ingest", "curate"])
    return config


@pytest.fixture(scope="module")
def server(config: Config) -> Iterator[Server]:
    assert config.config_path is not None
    with Server(config.config_path) as srv:
        yield srv


def _example_with(config: Config, text: str) -> str:
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        row = cat.conn.execute(
            "SELECT e.id FROM examples e JOIN findings f ON f.example_id = e.id WHERE body_text(e.body) LIKE ? LIMIT 1",
            (f"%{text}%",),
        ).fetchone()
    assert row is not None, text
    return str(row[0])


def _count(text: str) -> int:
    return int(re.match(r"[\d,]+", text.strip()).group(0).replace(",", ""))  # type: ignore[union-attr]


def test_every_page_loads_without_console_errors(
    config: Config, server: Server, tab: Watched, screens: Path
) -> None:
    example = _example_with(config, PLANTED[0])
    pages = {
        "overview": "/",
        "examples": "/examples",
        "search": "/examples?q=deploy",
        "example": f"/examples/{example}",
        "review": "/review/",
        "review-secrets": "/review/secrets",
    }
    for name, path in pages.items():
        tab.goto(server.url + path)
        tab.page.wait_for_load_state("load")
        assert "samdata" in tab.page.title()
        text = tab.page.inner_text("body")
        assert not [s for s in PLANTED if s in text], (path, "a planted secret is shown in clear")
        tab.page.screenshot(path=screens / f"{name}.png", full_page=True)
    # the detail page shows the redaction placeholder, highlighted
    tab.goto(server.url + pages["example"])
    expect(tab.page.locator("pre mark", has_text="<AWS_ACCESS_KEY>")).to_be_visible()
    tab.clean()


def test_the_csp_is_enforced_and_reported_as_a_console_error(server: Server, tab: Watched) -> None:
    # The check above relies on a violation showing as a console error: make one and see it.
    tab.goto(server.url + "/")
    tab.page.evaluate("document.body.setAttribute('onclick', 'window.__inline = 1'); document.body.click()")
    tab.page.wait_for_timeout(100)
    assert tab.page.evaluate("window.__inline") is None
    assert any("Content Security Policy" in e for e in tab.errors), tab.errors


def test_header_search_and_a_facet_narrow_the_examples(config: Config, server: Server, tab: Watched) -> None:
    word = "bike"
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        expected = cat.search_examples(word, limit=1).total
    assert expected > 1
    tab.goto(server.url + "/")
    box = tab.page.get_by_role("searchbox", name="Search examples")
    box.fill("")
    box.type(word)
    with tab.page.expect_navigation():
        box.press("Enter")
    assert re.search(rf"/examples\?q={word}$", tab.page.url), tab.page.url
    total = tab.page.locator("#total")
    assert _count(total.inner_text()) == expected
    assert f"matching “{word}”" in total.inner_text()
    assert tab.page.locator("ol.results > li").count() == min(expected, 50)

    # the first facet value that narrows the hits (kind: sft/preference; else a source)
    facet = None
    for li in tab.page.locator("aside.facets li").all():
        n = int(li.locator("span").inner_text())
        if n < expected:
            facet, count = li.locator("a"), n
            break
    assert facet is not None, "no facet narrows the search"
    with tab.page.expect_navigation():
        facet.click()
    assert f"q={word}" in tab.page.url
    assert _count(total.inner_text()) == count
    assert tab.page.locator("aside.facets a.on").count() == 1
    tab.clean()


def test_the_review_queue_by_keyboard_stores_undoes_and_curate_reapplies(
    config: Config, server: Server, tab: Watched, screens: Path
) -> None:
    tab.goto(server.url + "/review/secrets")
    page = tab.page
    items = page.locator("#queue > li[data-item]")
    assert items.count() >= 3, "the demo plants three secrets"
    hashes = [items.nth(i).get_attribute("data-item") for i in range(3)]
    current = page.locator("#queue > li.current")

    def at(i: int) -> None:
        expect(current).to_have_count(1)
        expect(current).to_have_attribute("data-item", hashes[i])  # type: ignore[arg-type]

    def shows(i: int, text: str) -> None:
        expect(items.nth(i).locator(".decision")).to_have_text(text)

    def stored() -> dict[str, str]:
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            return {k: v for k, v in cat.decisions("secrets").items() if k in hashes}

    at(0)
    page.keyboard.press("j")
    at(1)
    page.keyboard.press("k")
    at(0)
    page.keyboard.press("a")  # confirm the first, move on
    shows(0, "confirm")
    at(1)
    page.keyboard.press("r")  # allow the second
    shows(1, "allow")
    expect(items.nth(1)).to_have_class(re.compile(r"\bdecided-allow\b"))
    at(2)
    page.keyboard.press("s")  # skip the third (the last: the cursor stays)
    shows(2, "skip")
    at(2)
    assert stored() == {hashes[0]: "confirm", hashes[1]: "allow", hashes[2]: "skip"}
    page.keyboard.press("a")  # change its mind: confirm the third
    shows(2, "confirm")
    assert stored()[hashes[2]] == "confirm"
    page.screenshot(path=screens / "review-decided.png", full_page=True)

    page.keyboard.press("u")  # undo the confirm: the skip is in force again
    shows(2, "skip")
    expect(page.locator("#review-status")).to_have_text(f"undone: {hashes[2]}")
    assert stored()[hashes[2]] == "skip"
    page.keyboard.press("u")  # undo the skip: no decision
    shows(2, "")
    assert stored() == {hashes[0]: "confirm", hashes[1]: "allow"}
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        rows = cat.conn.execute(
            "SELECT decision, undone FROM review_decisions WHERE queue = 'secrets' AND item = ? ORDER BY id",
            (hashes[2],),
        ).fetchall()
    assert [tuple(r) for r in rows] == [("skip", 1), ("confirm", 1)]
    tab.clean()

    # curate re-applies the decisions: the allowed finding is gone, the confirmed one stays
    run_pipeline(config, stages=["curate"])
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        found = {h for (h,) in cat.conn.execute("SELECT DISTINCT hash FROM findings")}
    assert hashes[1] not in found
    assert {hashes[0], hashes[2]} <= found
    tab.goto(server.url + "/review/secrets")
    # the queue lists what waits: the undecided third, not the confirmed or the allowed one (nor
    # anything else curate finds now in the allowed text, e.g. the password of an allowed URL)
    expect(page.locator(f"#queue > li[data-item='{hashes[2]}']")).to_have_count(1)
    waiting = set(page.locator("#queue > li[data-item]").evaluate_all("els => els.map(e => e.dataset.item)"))
    assert hashes[2] in waiting and not {hashes[0], hashes[1]} & waiting
    tab.clean()


def test_a_decision_without_the_csrf_token_is_refused(config: Config, server: Server, tab: Watched) -> None:
    tab.goto(server.url + "/review/secrets")
    post = """async ([url, headers]) => {
        const r = await fetch(url, {method: "POST", headers, body: JSON.stringify({item: "0123456789abcdef",
                                    decision: "allow"})});
        return [r.status, await r.text()];
    }"""
    status, body = tab.page.evaluate(post, ["/review/secrets/decide", {"Content-Type": "application/json"}])
    assert status == 403, body
    status, _ = tab.page.evaluate(
        post, ["/review/secrets/decide", {"Content-Type": "application/json", "X-CSRF-Token": "0" * 64}]
    )
    assert status == 403
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert "0123456789abcdef" not in cat.decisions("secrets")
    # (the refused fetches log "Failed to load resource" errors: expected here)
    assert all("403" in e for e in tab.errors), tab.errors


def test_a_pattern_is_allowed_from_the_secrets_page_and_undone(
    config: Config, server: Server, tab: Watched, screens: Path
) -> None:
    tab.goto(server.url + "/review/secrets")
    page = tab.page
    page.fill("#allow-pattern input[name=pattern]", r".*@example-family\.org")
    page.select_option("#allow-pattern select[name=kind]", "email")
    page.click("#allow-pattern button[type=submit]")
    expect(page.locator("#review-status")).to_have_text(r"allowed pattern: .*@example-family\.org")
    expect(page.locator("#patterns li code")).to_have_text([r".*@example-family\.org"])
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert cat.allowed_secret_patterns() == [r"email:.*@example-family\.org"]
    page.fill("#allow-pattern input[name=pattern]", ".*")
    page.click("#allow-pattern button[type=submit]")
    expect(page.locator("#review-status")).to_contain_text("would allow almost anything")
    # the refused request is the one console error expected here (the browser logs every 4xx)
    tab.errors[:] = [e for e in tab.errors if "status of 422" not in e]
    page.reload()
    page.screenshot(path=str(screens / "review-patterns.png"), full_page=True)
    page.click("#patterns .undo-pattern")
    expect(page.locator("#patterns li")).to_have_count(0)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert cat.allowed_secret_patterns() == []
    tab.clean()
