"""The review queue of mined preference candidates (`/review/preferences`), on the demo catalog plus
one ChatGPT conversation whose regenerated answer is rated by feedback (the demo has none).

In-process: the queue lists exactly the preference examples mined from OpenAssistant ranks and
ChatGPT feedback (not the dpo files, the corrections, nor hh-rlhf, though hh-rlhf shares a source
with the OpenAssistant trees), with prompt, chosen and rejected redacted and escaped; the review
index counts what waits; a decision needs the CSRF token and a mined preference example; swap
moves the data version and the sam-dpo export writes that pair exchanged (its manifest counts it),
undone it is written as mined again; drop makes curate's verdict "dropped in review" and leaves the
pair out of the export, undone it is back (and curate re-applies a drop whatever overwrote the
verdict, and writes nothing when nothing changed); confirm changes no export byte.
In Chromium (as tests/serve/test_pages.py): a/r/s/u review by keyboard, no console error, no
planted secret on the page, a screenshot.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.curate.verdict import DROPPED_IN_REVIEW
from samdata.demo.estate import build_estate
from samdata.export import SWAPPED
from samdata.pipeline import run_pipeline
from tests.serve.browser import PLANTED, Watched
from tests.serve.inprocess import client as _client
from tests.serve.inprocess import csrf_headers as _csrf
from tests.serve.loadgen import Server

KEY = "AKIAZ3XQ7PLMN4RTW2VB"  # planted in the rated regeneration: shown only as <AWS_ACCESS_KEY>
SECRETS = (*PLANTED, KEY)
RECIPE = "sam-dpo"


def _message(node: str, role: str, text: str, t: int) -> dict[str, Any]:
    return {"id": node, "author": {"role": role}, "create_time": t, "content": {"content_type": "text",
            "parts": [text]}, "weight": 1.0}  # fmt: skip


def _add_rated_regeneration(config: Config) -> None:
    """A ChatGPT export beside the demo's (in its source's folder): one answer regenerated, the
    regeneration rated up and the first answer (the visible one) down, so ingest mines
    chosen = regeneration."""
    source = next(s for s in config.sources if s.name == "chatgpt-export")
    target = Path(source.path.replace("ChatGPT-*", "ChatGPT-2025-07")).parent
    target.mkdir()
    mapping = {
        "root": {"id": "root", "message": None, "parent": None, "children": ["u1"]},
        "u1": {"id": "u1", "parent": "root", "children": ["a1", "a2"], "message": _message(
            "u1", "user", "Which city is the capital of Australia, and why <not> Sydney?", 1751000000)},
        "a1": {"id": "a1", "parent": "u1", "children": [], "message": _message(
            "a1", "assistant", "Sydney is the capital of Australia: it is the largest city & the oldest.",
            1751000001)},
        "a2": {"id": "a2", "parent": "u1", "children": [], "message": _message(
            "a2", "assistant", f"Canberra is the capital: a compromise between Sydney and Melbourne, built"
            f" for the purpose. (My deploy key {KEY} was in the clipboard.)", 1751000002)},
    }  # fmt: skip
    conversation = {"title": "Capital of Australia", "create_time": 1751000000, "id": "conv-rated",
                    "conversation_id": "conv-rated", "mapping": mapping, "current_node": "a1"}  # fmt: skip
    (target / "conversations.json").write_bytes(orjson.dumps([conversation]))
    feedback = [{"message_id": "a2", "rating": "thumbsUp"}, {"message_id": "a1", "rating": "thumbsDown"}]
    (target / "message_feedback.json").write_bytes(orjson.dumps(feedback))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    folder = tmp_path_factory.mktemp("preferences")
    config = load_config(build_estate(folder).config_path)
    _add_rated_regeneration(config)
    run_pipeline(config)
    return config


def _expected(config: Config) -> set[str]:
    """The mined preference examples, by what the demo is: the OpenAssistant trees' file and the
    ChatGPT export source (independent of how the catalog tells adapters apart)."""
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        return {r[0] for r in cat.conn.execute(
            "SELECT DISTINCT e.id FROM examples e JOIN provenance_paths pp ON pp.example_id = e.id"
            " WHERE e.kind = 'preference' AND e.forgotten = 0"
            " AND (pp.file LIKE '%/oasst/%' OR pp.source = 'chatgpt-export')"
        )}  # fmt: skip


def _body(config: Config, example_id: str) -> dict[str, Any]:
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        row = cat.conn.execute(
            "SELECT coalesce(r.body, body_text(e.body)) FROM examples e LEFT JOIN redactions r ON r.example_id = e.id"
            " WHERE e.id = ?",
            (example_id,),
        ).fetchone()
    return dict(orjson.loads(row[0]))


def _oasst(config: Config, n: int) -> str:
    """The n-th mined pair of the OpenAssistant trees (in the sam-dpo recipe's sources)."""
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        ids = [r[0] for r in cat.conn.execute(
            "SELECT DISTINCT e.id FROM examples e JOIN provenance_paths pp ON pp.example_id = e.id"
            " WHERE e.kind = 'preference' AND pp.file LIKE '%/oasst/%' ORDER BY e.id"
        )]  # fmt: skip
    return ids[n]


def _data_version(config: Config) -> int:
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        return cat.data_version()


def _export(config: Config) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """curate + export; the sam-dpo export's manifest, rows (all splits) and members."""
    run_pipeline(config, stages=["curate", "export"])
    out = config.export_dir(RECIPE)
    rows = [orjson.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.read_bytes().splitlines()]
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        last = cat.last_export_to(str(out))
        assert last is not None
        members = cat.export_members(last["id"])
    return orjson.loads((out / "manifest.json").read_bytes()), rows, members


def _row_of(rows: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """The mlx DPO row of a pair, found by its content (prompt and the two answers)."""
    prompt = "\n\n".join(m["content"] for m in body["messages"] if m["role"] != "system")
    answers = {body["chosen"][0]["content"], body["rejected"][0]["content"]}
    found = [r for r in rows if r["prompt"] == prompt and {r["chosen"], r["rejected"]} == answers]
    assert len(found) == 1, (prompt, len(found))
    return found[0]


def _verdict(config: Config, example_id: str) -> dict[str, Any]:
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        return dict(cat.stored_verdicts([example_id])[example_id])


def _decide(http: TestClient, item: str, decision: str) -> int:
    r = http.post(
        "/review/preferences/decide", json={"item": item, "decision": decision}, headers=_csrf(http)
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _undo(http: TestClient, decision_id: int) -> None:
    r = http.post("/review/undo", json={"id": decision_id}, headers=_csrf(http))
    assert r.status_code == 200, r.text


def test_the_queue_lists_exactly_the_mined_preference_pairs(config: Config) -> None:
    expected = _expected(config)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        all_preferences = cat.conn.execute(
            "SELECT count(*) FROM examples WHERE kind = 'preference'"
        ).fetchone()[0]
        hh = cat.conn.execute(
            "SELECT count(DISTINCT example_id) FROM provenance_paths WHERE source = 'public-sets' AND file LIKE '%hh-rlhf%'"
        ).fetchone()[0]
        chatgpt = {r[0] for r in cat.conn.execute(
            "SELECT e.id FROM examples e JOIN provenance_paths pp ON pp.example_id = e.id"
            " WHERE e.kind = 'preference' AND pp.source = 'chatgpt-export'"
        )}  # fmt: skip
    assert len(chatgpt) == 1 and len(expected) == 21  # 20 OpenAssistant trees and the rated regeneration
    assert hh > 0 and all_preferences > len(expected)  # dpo files, corrections and hh-rlhf stay out
    http = _client(config)
    page = http.get("/review/preferences")
    assert page.status_code == 200
    listed = re.findall(r'<li id="([0-9a-f]{32})" data-item="\1"', page.text)
    assert len(listed) == len(set(listed)) and set(listed) == expected
    assert 'data-queue="preferences" data-decisions="confirm,swap,drop"' in page.text
    assert re.search(r"<span id=\"preferences-waiting\">21</span>", page.text)
    assert not [s for s in SECRETS if s in page.text]
    # the rated regeneration: prompt escaped, chosen redacted and marked, rejected as mined, its source
    (rated,) = chatgpt
    item = page.text.split(f'<li id="{rated}"', 1)[1].split("</li>", 1)[0]
    assert "why &lt;not&gt; Sydney?" in item and "<not>" not in item
    chosen, rejected = item.split('class="side chosen-side"', 1)[1].split('class="side rejected-side"', 1)
    assert "Canberra is the capital" in chosen and "<mark>&lt;AWS_ACCESS_KEY&gt;</mark>" in chosen
    assert "Sydney is the capital of Australia: it is the largest city &amp; the oldest." in rejected
    assert "chatgpt-export" in item and "chatgpt_export:" in item
    # an OpenAssistant pair: its texts, its source and adapter
    other = _oasst(config, 0)
    body = _body(config, other)
    item = html.unescape(page.text.split(f'<li id="{other}"', 1)[1].split("</li>", 1)[0])
    for text in (
        body["messages"][0]["content"],
        body["chosen"][0]["content"],
        body["rejected"][0]["content"],
    ):
        assert text in item
    assert "public-sets" in item and "oasst:" in item
    index = http.get("/review/").text
    assert 'href="/review/preferences"' in index and '<span id="preferences-open">21</span>' in index


def test_a_decision_needs_the_csrf_token_and_a_mined_pair(config: Config) -> None:
    http = _client(config)
    item = _oasst(config, 5)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        r = http.post("/review/preferences/decide", json={"item": item, "decision": "drop"}, headers=headers)
        assert r.status_code == 403, r.text
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert item not in cat.decisions("preferences")
        dpo_file = cat.conn.execute(
            "SELECT e.id FROM examples e JOIN provenance_paths pp ON pp.example_id = e.id"
            " WHERE e.kind = 'preference' AND pp.source = 'sam-dpo-pairs' LIMIT 1"
        ).fetchone()[0]
        sft = cat.conn.execute("SELECT id FROM examples WHERE kind = 'sft' LIMIT 1").fetchone()[0]
    token = _csrf(http)
    for bad, decision in ((dpo_file, "drop"), (sft, "swap"), ("0" * 32, "confirm"), (item, "allow")):
        r = http.post("/review/preferences/decide", json={"item": bad, "decision": decision}, headers=token)
        assert r.status_code == 422, (bad, decision, r.text)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert cat.decisions("preferences") == {}


def test_swap_exchanges_chosen_and_rejected_in_the_export(config: Config) -> None:
    http = _client(config)
    item = _oasst(config, 1)
    body = _body(config, item)
    chosen, rejected = body["chosen"][0]["content"], body["rejected"][0]["content"]
    manifest, rows, _ = _export(config)
    assert _row_of(rows, body)["chosen"] == chosen and SWAPPED not in manifest["changed"]
    before = _data_version(config)
    decision = _decide(http, item, "swap")
    assert _data_version(config) > before  # exports written before are out of date
    manifest, rows, members = _export(config)
    row = _row_of(rows, body)
    assert (row["chosen"], row["rejected"]) == (rejected, chosen)
    assert manifest["changed"][SWAPPED] == 1 and item in members
    assert _verdict(config, item)["kept"] is True
    before = _data_version(config)
    _undo(http, decision)
    assert _data_version(config) > before
    manifest, rows, _ = _export(config)
    assert (_row_of(rows, body)["chosen"], SWAPPED in manifest["changed"]) == (chosen, False)


def test_drop_leaves_the_pair_out_until_undone(config: Config) -> None:
    http = _client(config)
    item = _oasst(config, 2)
    body = _body(config, item)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        kept = cat.kept_count()
    before = _data_version(config)
    decision = _decide(http, item, "drop")
    assert _data_version(config) > before
    manifest, rows, members = _export(config)
    assert _verdict(config, item) == {"kept": False, "reason": DROPPED_IN_REVIEW}
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert cat.kept_count() == kept - 1
    assert item not in members and manifest["dropped"][DROPPED_IN_REVIEW] == 1
    prompt = body["messages"][0]["content"]
    assert not [r for r in rows if r["prompt"] == prompt]
    # nothing new: curate writes nothing (the data version stays, the exports stay current)
    settled = _data_version(config)
    run_pipeline(config, stages=["curate"])
    assert _data_version(config) == settled
    # a verdict stored without the decisions (as a batch relabelling the example would) is corrected
    with Catalog.open(config.catalog_path) as cat:
        cat.save_verdicts([(item, {"kept": True, "reason": None})])
    run_pipeline(config, stages=["curate"])
    assert _verdict(config, item)["reason"] == DROPPED_IN_REVIEW
    # undone: kept again, exported again, as mined
    before = _data_version(config)
    _undo(http, decision)
    assert _data_version(config) > before
    manifest, rows, members = _export(config)
    assert _verdict(config, item) == {"kept": True, "reason": None}
    assert item in members and DROPPED_IN_REVIEW not in manifest["dropped"]
    assert _row_of(rows, body)["chosen"] == body["chosen"][0]["content"]


def test_confirm_changes_nothing_but_the_record(config: Config) -> None:
    http = _client(config)
    item = _oasst(config, 3)
    _export(config)
    out = config.export_dir(RECIPE)
    files = {f.name: f.read_bytes() for f in out.iterdir()}
    before = _data_version(config)
    _decide(http, item, "confirm")
    assert _data_version(config) == before
    report = run_pipeline(config, stages=["curate", "export"])
    assert [s.status for s in report.stages if s.stage.startswith("export:")] == ["skipped"] * 3
    assert {f.name: f.read_bytes() for f in out.iterdir()} == files
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        decided = cat.decisions_in_force("preferences")[item]
    assert decided["decision"] == "confirm" and decided["decided_at"]
    # a confirm that replaces a swap changes what exports write: it moves the data version
    _decide(http, item, "swap")
    before = _data_version(config)
    _decide(http, item, "confirm")
    assert _data_version(config) > before


@pytest.fixture(scope="module")
def server(config: Config) -> Iterator[Server]:
    assert config.config_path is not None
    with Server(config.config_path) as srv:
        yield srv


def test_review_by_keyboard(config: Config, server: Server, tab: Watched, tmp_path: Path) -> None:
    screens = Path(os.environ.get("SAMDATA_SCREENSHOTS") or tmp_path)
    screens.mkdir(parents=True, exist_ok=True)
    page = tab.page
    tab.goto(server.url + "/review/preferences")
    items = page.locator("#queue > li[data-item]")
    expect(items).to_have_count(len(_expected(config)))
    keys = [items.nth(i).get_attribute("data-item") for i in range(3)]
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        earlier = cat.decisions("preferences")
    assert not set(keys) & set(earlier)  # undecided first
    current = page.locator("#queue > li.current")

    def stored() -> dict[str, str]:
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            return {k: v for k, v in cat.decisions("preferences").items() if k in keys}

    expect(current).to_have_attribute("data-item", keys[0])  # type: ignore[arg-type]
    page.keyboard.press("a")
    expect(items.nth(0).locator(".decision")).to_have_text("confirm")
    expect(current).to_have_attribute("data-item", keys[1])  # type: ignore[arg-type]
    page.keyboard.press("r")
    expect(items.nth(1).locator(".decision")).to_have_text("swap")
    expect(items.nth(1)).to_have_class(re.compile(r"\bdecided-swap\b"))
    expect(items.nth(1).locator(".swap-note")).to_be_visible()
    expect(items.nth(0).locator(".swap-note")).to_be_hidden()
    page.keyboard.press("s")
    expect(items.nth(2).locator(".decision")).to_have_text("drop")
    expect(items.nth(2).locator(".drop-note")).to_be_visible()
    assert stored() == dict(zip(keys, ("confirm", "swap", "drop"), strict=True))  # type: ignore[arg-type]
    text = page.inner_text("body")
    assert not [s for s in SECRETS if s in text]
    expect(page.locator("pre mark", has_text="<AWS_ACCESS_KEY>")).to_have_count(1)
    page.screenshot(path=screens / "review-preferences.png", full_page=True)
    assert (screens / "review-preferences.png").stat().st_size > 10_000
    page.keyboard.press("u")  # undo the drop
    expect(items.nth(2).locator(".decision")).to_have_text("")
    expect(page.locator("#review-status")).to_have_text(f"undone: {keys[2]}")
    assert stored() == dict(zip(keys[:2], ("confirm", "swap"), strict=True))  # type: ignore[arg-type]
    tab.clean()
