"""Captured text is data, never markup or template: captures whose content, tool calls, meta and
capture id hold script, event-handler, javascript: and template payloads are curated, then every
page that shows them (detail, search results, overview, review queue, and pages reflecting a
payload from the URL) is opened in a real headless Chromium. No payload runs (no dialog, no
`window.__xss`), the DOM holds no element made from one, and the text shows each payload as typed
(`{{7*7}}` stays `{{7*7}}`, not 49).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from playwright.sync_api import Browser, Dialog

from samdata.capture import Capture
from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.pipeline import run_pipeline
from tests.serve.browser import Watched, watch
from tests.serve.loadgen import Server

PAYLOADS = (
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '<a href="javascript:window.__xss=1">x</a>',
    "</script><script>window.__xss=1</script>",
    '"><svg onload="alert(1)">',
    "{{7*7}}",
    "{% raw %}{{ config }}{% endraw %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
)
WORD = "zebrafish"  # in every capture: the search that lists them all
KEY = "AKIAQ3EGUFYP7XLMN2RT"  # a finding in every capture, so the review queue shows them


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict[str, str]]:
    """Payload → the id of the capture that carries it everywhere it can, curated and indexed."""
    folder = tmp_path_factory.mktemp("xss")
    (folder / "samdata.toml").write_text('catalog = "catalog.db"\n')
    config = load_config(folder / "samdata.toml")
    Catalog.open(config.catalog_path).close()
    capture = Capture(config.catalog_path)
    ids = {}
    for n, p in enumerate(PAYLOADS):
        messages = [
            {"role": "system", "content": f"{WORD} system {p}"},
            {"role": "user", "content": f"{WORD} asks {p} with key {KEY}"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call{n}", "type": "function", "function": {"name": f"lookup{n}{p}", "arguments": {"q": p}}}
            ]},
            {"role": "tool", "tool_call_id": f"call{n}", "name": f"lookup{p}", "content": f"tool said {p}"},
            {"role": "assistant", "content": f"{WORD} answers {p}"},
        ]  # fmt: skip
        ids[p] = capture.record_conversation(messages, {"client": p, "note": p}, capture_id=f"xss{n}-{p}")
    run_pipeline(config, stages=["curate"])
    return config, ids


@pytest.fixture(scope="module")
def server(catalog: tuple[Config, dict[str, str]]) -> Iterator[Server]:
    config, _ = catalog
    assert config.config_path is not None
    with Server(config.config_path) as srv:
        yield srv


@pytest.fixture()
def tab(browser: Browser) -> Iterator[Watched]:
    watched = watch(browser)

    def dialog(d: Dialog) -> None:
        watched.errors.append(f"dialog: {d.type} {d.message} ({watched.page.url})")
        d.dismiss()

    watched.page.on("dialog", dialog)
    yield watched
    watched.page.context.close()


def _inert(tab: Watched) -> str:
    """Checks that nothing from the data ran or became an element; the page's text."""
    page = tab.page
    page.wait_for_load_state("load")
    page.wait_for_timeout(50)  # let an onerror of a (wrongly) created <img src=x> fire
    url = page.url
    assert not [e for e in tab.errors if e.startswith("dialog:")], tab.errors
    assert page.evaluate("typeof window.__xss") == "undefined", url
    assert page.locator("img[src='x']").count() == 0, url
    assert page.locator("a[href^='javascript' i]").count() == 0, url
    assert page.locator("svg").count() == 0, url
    scripts = page.locator("script").evaluate_all("els => els.map(e => e.getAttribute('src'))")
    assert set(scripts) <= {"/static/app.js"}, (url, scripts)  # (a JSON 404 has none)
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
        ".filter(n => n.startsWith('on'))"
    )
    assert handlers == [], (url, handlers)
    return page.inner_text("body")


def test_detail_pages_show_every_payload_as_text(
    catalog: tuple[Config, dict[str, str]], server: Server, tab: Watched
) -> None:
    _, ids = catalog
    for p, example_id in ids.items():
        tab.goto(f"{server.url}/examples/{example_id}")
        text = _inert(tab)
        n = PAYLOADS.index(p)
        for shown in (f"{WORD} system {p}", f"{WORD} asks {p} with key <AWS_ACCESS_KEY>", f"tool said {p}",
                      f"{WORD} answers {p}", f"tool (lookup{p})", orjson.dumps(f"xss{n}-{p}").decode()):  # fmt: skip
            assert shown in text, (p, shown)
        assert f"lookup{n}{p}({orjson.dumps({'q': p}).decode()})" in text, p  # the tool call
        assert KEY not in text
    tab.goto(f"{server.url}/examples/{ids['{{7*7}}']}")
    text = tab.page.inner_text("main")
    assert f"{WORD} answers {{{{7*7}}}}" in text and "answers 49" not in text
    tab.goto(f"{server.url}/examples/{ids[PAYLOADS[0]]}")
    assert tab.page.get_by_text(f"{WORD} answers <script>window.__xss=1</script>", exact=True).count() == 1
    tab.clean()


def test_search_results_overview_and_review_queue_stay_inert(
    catalog: tuple[Config, dict[str, str]], server: Server, tab: Watched
) -> None:
    _, ids = catalog
    tab.goto(f"{server.url}/examples?q={WORD}")
    text = _inert(tab)
    assert tab.page.locator("ol.results > li").count() == len(PAYLOADS)
    for p in PAYLOADS:
        assert f"{WORD} system {p}" in text, p
    assert "system 49" not in text
    tab.goto(f"{server.url}/examples?q=onerror")
    _inert(tab)
    assert tab.page.locator("ol.results > li").count() == 1
    assert ids['<img src=x onerror="window.__xss=1">'][:12] in tab.page.inner_text("ol.results")

    tab.goto(server.url + "/")
    _inert(tab)
    for path in ("/review/", "/review/secrets"):
        tab.goto(server.url + path)
        _inert(tab)
    assert tab.page.locator("#queue > li[data-item]").count() == 1  # one key, in every capture
    tab.clean()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_the_url_are_not_reflected_as_markup(server: Server, tab: Watched, payload: str) -> None:
    tab.goto(f"{server.url}/examples?q={quote(payload)}")
    _inert(tab)
    assert tab.page.locator("input[type=search]").input_value() == payload
    assert f"matching “{payload}”" in tab.page.inner_text("#total")
    # the review queue reads location.hash to pick its start: data, not markup
    tab.goto(f"{server.url}/review/secrets#{quote(payload)}")
    _inert(tab)
    tab.clean()
    tab.goto(f"{server.url}/examples/{quote(payload, safe='')}", status=404)
    text = _inert(tab)
    if "/" not in payload:  # else no route matches: the framework's JSON 404
        assert payload in text


def test_screenshot_of_a_payload_page(catalog: tuple[Config, dict[str, str]], server: Server, tab: Watched,
                                      tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    folder = Path(os.environ.get("SAMDATA_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    _, ids = catalog
    tab.goto(f"{server.url}/examples/{ids[PAYLOADS[1]]}")
    tab.page.screenshot(path=folder / "xss-example.png", full_page=True)
    tab.goto(f"{server.url}/examples?q={WORD}")
    tab.page.screenshot(path=folder / "xss-search.png", full_page=True)
    print(f"\nscreenshots in {folder}")
    tab.clean()
