"""The dashboard's Duplicates pages and the quarantine review queue, on the demo catalog.

In-process: the clusters page lists what `samdata dupes --json` lists, in its order and paged; a
cluster page names the rule that chose its keeper and marks the changed last word of the demo's
near-copies with <ins>/<del> (text escaped); a keeper chosen in review is applied by curate and the
export (and undoing it gives the priority keeper back); the rules curate records (newest, fewer
flags); quarantine decisions are stored, a retry makes the next ingest read the file again.
In Chromium (as tests/serve/test_pages.py): "make this the keeper" stores a decision and says so,
undo takes it back, and the quarantine queue works by keyboard; no console error, no planted secret.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import expect
from typer.testing import CliRunner

from samdata.catalog import Catalog
from samdata.cli import app as cli
from samdata.config import Config
from samdata.curate.verdict import NEAR_DUPLICATE
from samdata.ingest import run_ingest
from samdata.pipeline import run_pipeline
from samdata.serve import dupes_page
from samdata.serve.pages import templates
from tests.serve.browser import PLANTED, Watched
from tests.serve.inprocess import client as _client
from tests.serve.inprocess import csrf_headers as _csrf
from tests.serve.inprocess import curated_demo as _curated
from tests.serve.loadgen import Server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """Read by the in-process tests, then written by the browser tests (which come last)."""
    return _curated(tmp_path_factory.mktemp("dupes-shared"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """For tests that write things that do not meet: quarantine decisions, keeper facts."""
    return _curated(tmp_path_factory.mktemp("dupes-scratch"))


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def _rows(page: str) -> list[dict[str, str]]:
    """The clusters table of /duplicates."""
    out = []
    for m in re.finditer(r'<tr data-keeper="([0-9a-f]+)" data-anchor="([0-9a-f]+)">(.*?)</tr>', page, re.S):
        cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", m.group(3), re.S)]
        out.append({"keeper": m.group(1), "anchor": m.group(2), "size": cells[0], "rule": cells[2],
                    "sources": cells[3], "text": cells[4]})  # fmt: skip
    return out


def _members(page: str) -> dict[str, str]:
    """Example id → its <article> on a cluster page, in page order."""
    return dict(
        re.findall(r'<article class="member[^"]*" data-example="([0-9a-f]+)">(.*?)</article>', page, re.S)
    )


def _diff(article: str) -> tuple[list[str], list[str]]:
    block = re.search(r'<pre class="diff">(.*?)</pre>', article, re.S)
    assert block
    return [html.unescape(x) for x in re.findall(r"<del>(.*?)</del>", block.group(1), re.S)], [
        html.unescape(x) for x in re.findall(r"<ins>(.*?)</ins>", block.group(1), re.S)
    ]


def _last_word(cat: Catalog, example_id: str) -> str:
    body = cat.redacted_body(example_id) or cat.example(example_id)["body"]  # type: ignore[index]
    return str(body["messages"][-1]["content"].split()[-1])


def _neardup(cat: Catalog) -> dict[str, dict[str, object]]:
    return {
        i: orjson.loads(v)
        for i, v in cat.conn.execute("SELECT example_id, neardup FROM labels WHERE neardup IS NOT NULL")
    }


def _verdict(cat: Catalog, example_id: str) -> dict[str, object]:
    row = cat.conn.execute("SELECT verdict FROM labels WHERE example_id = ?", (example_id,)).fetchone()
    return dict(orjson.loads(row[0]))


def _retry_marks(config: Config) -> list[str]:
    """Files marked to be read again by the next ingest."""
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        return [
            r[0] for r in cat.conn.execute("SELECT file FROM ingest_progress WHERE adapter LIKE 'retry:%'")
        ]


def test_the_clusters_page_lists_what_samdata_dupes_lists_and_pages(
    shared: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shared.config_path is not None
    result = CliRunner().invoke(cli, ["dupes", "--config", str(shared.config_path), "--json"])
    assert result.exit_code == 0, result.output
    expected = orjson.loads(result.stdout)["clusters"]
    assert len(expected) == 5
    with _client(shared) as http:
        page = http.get("/duplicates")
        assert page.status_code == 200
        rows = _rows(page.text)
        assert [r["keeper"] for r in rows] == [c["keeper"] for c in expected]
        for row, c in zip(rows, expected, strict=True):
            assert int(row["size"]) == len({m["id"] for m in c["members"]})
            assert row["sources"] == ", ".join(sorted({m["source"] for m in c["members"]}))
            assert row["text"] == next(m["text"] for m in c["members"] if m["id"] == c["keeper"])
            assert row["rule"] == "newest"  # the demo's copies tie on source and flags
        with Catalog.open(shared.catalog_path, readonly=True) as cat:
            values = _neardup(cat)
        assert {r["anchor"] for r in rows} == {v["anchor"] for v in values.values()}
        totals = _text(re.search(r'<p id="dupes-total">(.*?)</p>', page.text, re.S).group(1))  # type: ignore[union-attr]
        assert totals.startswith(f"5 near-duplicate clusters hold\n{len(values)} examples; 5 are not kept")

        # paged: two at a time, the same order, links to the next and previous pages
        monkeypatch.setattr(dupes_page, "PAGE_SIZE", 2)
        seen = []
        for offset in (0, 2, 4):
            part = http.get(f"/duplicates?offset={offset}").text
            seen += [r["keeper"] for r in _rows(part)]
            assert ('rel="next"' in part) == (offset < 4)
            assert ('rel="prev"' in part) == (offset > 0)
        assert seen == [c["keeper"] for c in expected]
        assert _rows(http.get("/duplicates?offset=10").text) == []
        assert http.get("/duplicates?offset=-1").status_code == 422


def test_a_cluster_page_names_the_rule_and_diffs_the_changed_word(shared: Config) -> None:
    with _client(shared) as http, Catalog.open(shared.catalog_path, readonly=True) as cat:
        values = _neardup(cat)
        anchors = sorted({str(v["anchor"]) for v in values.values()})
        assert len(anchors) == 5
        for anchor in anchors:
            page = http.get(f"/duplicates/{anchor}")
            assert page.status_code == 200
            why = re.search(
                r'<section id="why" class="why" data-rule="([a-z_]*)">(.*?)</section>', page.text, re.S
            )
            assert why and why.group(1) == "newest"
            assert "it is the newest" in _text(why.group(2))
            members = _members(page.text)
            keeper = next(i for i, v in values.items() if v["anchor"] == anchor and v["keeper"])
            other = next(i for i, v in values.items() if v["anchor"] == anchor and not v["keeper"])
            assert list(members) == [keeper, other]  # the keeper first
            assert "runner-up " + other[:12] in _text(why.group(2))
            assert 'class="badge">keeper<' in members[keeper] and "not kept" in members[other]
            assert _diff(members[keeper]) == ([], [])
            # the demo's near-copies differ in their last word: exactly that word is marked
            assert _diff(members[other]) == ([_last_word(cat, keeper)], [_last_word(cat, other)])
            for example in (keeper, other):
                assert f'class="make-keeper" data-example="{example}"' in members[example]
            # any member's id opens the same cluster
            assert _members(http.get(f"/duplicates/{other}").text).keys() == members.keys()
        missing = http.get("/duplicates/" + "0" * 32)
        assert missing.status_code == 404 and "No near-duplicate cluster holds" in missing.text
        for path in ["/duplicates", *(f"/duplicates/{a}" for a in anchors), "/review/quarantine", "/review/"]:
            text = http.get(path).text
            assert not [s for s in PLANTED if s in text], path
            assert "<script>" not in text and " style=" not in text and "onclick" not in text


def test_the_word_diff_is_escaped_text() -> None:
    segments, cut = dupes_page.word_diff("keep <b>this</b> word", "keep <img src=x onerror=alert(1)> word")
    assert not cut
    assert segments == [
        ("", "keep "),
        ("del", "<b>this</b>"),
        ("ins", "<img src=x onerror=alert(1)>"),
        ("", " word"),
    ]
    member = {"id": "b" * 32, "sources": [], "created_at": "", "flags": [], "verdict": None, "where": [],
              "diff": segments, "cut": False}  # fmt: skip
    page = templates.get_template("duplicates_cluster.html").render(
        csrf_token="0", title="t", page="duplicates", cluster={"anchor": "a" * 32, "keeper": "a" * 32, "members": [member]},
        why={"rule": "newest", "label": "newest", "text": "<i>why</i>"}, pending=None, chosen=None, priority=[],
        diff_words=1,
    )  # fmt: skip
    assert "<del>&lt;b&gt;this&lt;/b&gt;</del><ins>&lt;img src=x onerror=alert(1)&gt;</ins>" in page
    assert "<img" not in page and "&lt;i&gt;why&lt;/i&gt;" in page
    # a long text of one frequent word, changed at its start: only that word is marked, at once
    member = "b " + "a " * 30_000
    long, cut = dupes_page.word_diff("a " * 30_000, member)
    assert cut and long[:2] == [("del", "a"), ("ins", "b")] and len(long) == 3
    assert "".join(t for op, t in long if op != "del") == member
    sentences, _ = dupes_page.word_diff("One. Two three. Four.\nFive", "One. Two four. Four.\nFive six")
    assert sentences == [
        ("", "One. Two "),
        ("del", "three."),
        ("ins", "four."),
        ("", " Four.\nFive "),
        ("ins", "six"),
    ]


def test_a_reviewed_keeper_is_applied_by_curate_and_export_and_undo_gives_the_priority_one_back(
    tmp_path: Path,
) -> None:
    config = _curated(tmp_path / "e")
    run_pipeline(config, stages=["export"])
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        values = _neardup(cat)
        before = cat.data_version()
    anchor = sorted({str(v["anchor"]) for v in values.values()})[0]
    old = next(i for i, v in values.items() if v["anchor"] == anchor and v["keeper"])
    new = next(i for i, v in values.items() if v["anchor"] == anchor and not v["keeper"])
    elsewhere = next(i for i, v in values.items() if v["anchor"] != anchor)

    def exported() -> set[str]:
        """The assistant answers in the sam-sft export's files."""
        out = set()
        for f in config.export_dir("sam-sft").rglob("*.jsonl"):
            for line in f.read_text().splitlines():
                out |= {
                    m["content"] for m in orjson.loads(line).get("messages", []) if m["role"] == "assistant"
                }
        return out

    def answer(example_id: str) -> str:
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            return str(cat.example(example_id)["body"]["messages"][-1]["content"])  # type: ignore[index]

    def members_of_last_export() -> set[str]:
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            return {r[0] for r in cat.conn.execute(
                "SELECT example_id FROM export_members WHERE export_id ="
                " (SELECT max(id) FROM exports WHERE recipe = 'sam-sft')")}  # fmt: skip

    assert answer(old) in exported() and answer(new) not in exported()
    with _client(config) as http:
        token = _csrf(http)
        decide = "/review/keepers/decide"
        refused = [
            http.post(decide, json={"item": anchor, "decision": f"keep:{new}"}),  # no token
            http.post(decide, json={"item": anchor, "decision": f"keep:{elsewhere}"}, headers=token),
            http.post(decide, json={"item": anchor, "decision": "keep:nothex"}, headers=token),
            http.post(decide, json={"item": anchor, "decision": "allow"}, headers=token),
        ]
        assert [r.status_code for r in refused] == [403, 422, 422, 422], [r.text for r in refused]
        assert "not in the near-duplicate cluster" in refused[1].json()["error"]
        stored = http.post(decide, json={"item": anchor, "decision": f"keep:{new}"}, headers=token)
        assert stored.status_code == 201, stored.text
        assert stored.json()["previous"] is None
        page = http.get(f"/duplicates/{anchor}").text
        assert f"keeps <code>{new[:12]}</code>: the next curate run applies it" in page
        assert f'class="member chosen" data-example="{new}"' in page
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert cat.data_version() > before  # so curate clusters again
        assert cat.reviewed_keepers() == [(anchor, new, stored.json()["id"])]

    run_pipeline(config, stages=["curate", "export"])
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        values = _neardup(cat)
        assert values[new] == {"keeper_id": new, "keeper": True, "size": 2, "anchor": anchor, "rule": "review",
                               "runner_up": old}  # fmt: skip
        assert values[old]["keeper"] is False and values[old]["keeper_id"] == new
        assert _verdict(cat, new) == {"kept": True, "reason": None}
        assert _verdict(cat, old) == {"kept": False, "reason": NEAR_DUPLICATE}
        # the other clusters keep their priority keeper
        assert all(v["rule"] == "newest" for i, v in values.items() if v["anchor"] != anchor)
    assert new in members_of_last_export() and old not in members_of_last_export()
    assert answer(new) in exported() and answer(old) not in exported()
    with _client(config) as http:
        page = http.get(f"/duplicates/{anchor}").text
        why = _text(re.search(r'<section id="why".*?</section>', page, re.S).group(0))  # type: ignore[union-attr]
        assert "chosen in review" in why and f"Chosen in review (decision #{stored.json()['id']}" in why
        assert f"by priority alone the keeper would be {old[:12]}" in why
        assert next(iter(_members(page))) == new
        assert "the next curate run applies it" not in page
        assert http.get("/review/").text.count('<span id="keepers-reviewed">1</span>') == 1

        # undo: the priority keeper again, after curate (the undo moves the data version too)
        undone = http.post("/review/undo", json={"id": stored.json()["id"]}, headers=_csrf(http))
        assert undone.status_code == 200 and undone.json()["undone"]["queue"] == "keepers"
    run_pipeline(config, stages=["curate", "export"])
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        values = _neardup(cat)
        assert values[old]["keeper"] is True and values[old]["rule"] == "newest"
        assert values[old]["runner_up"] == new
        assert _verdict(cat, old)["kept"] is True and _verdict(cat, new)["kept"] is False
        assert cat.reviewed_keepers() == []
    assert old in members_of_last_export() and new not in members_of_last_export()
    assert answer(old) in exported() and answer(new) not in exported()


def test_curate_records_the_rule_newest_and_fewer_flags(scratch: Config) -> None:
    with Catalog.open(scratch.catalog_path) as cat:
        values = _neardup(cat)
        anchors = sorted({str(v["anchor"]) for v in values.values()})
        pairs = {
            a: (next(i for i, v in values.items() if v["anchor"] == a and v["keeper"]),
                next(i for i, v in values.items() if v["anchor"] == a and not v["keeper"]))
            for a in anchors[:2]
        }  # fmt: skip
        (keeper1, other1), (keeper2, other2) = pairs[anchors[0]], pairs[anchors[1]]
        with cat.transaction(data=True) as c:
            # the first cluster's other member is newer; the second's keeper gets a quality flag
            c.execute("UPDATE examples SET created_at = '2099-01-01T00:00:00+00:00' WHERE id = ?", (other1,))
            c.execute(
                "UPDATE labels SET quality = ? WHERE example_id = ?",
                ('[{"flag": "too_short"}]', keeper2),
            )
    run_pipeline(scratch, stages=["curate"])
    with Catalog.open(scratch.catalog_path, readonly=True) as cat:
        values = _neardup(cat)
    assert values[other1]["keeper"] is True and values[other1]["rule"] == "newest"
    assert values[other1]["runner_up"] == keeper1
    assert values[other2]["keeper"] is True and values[other2]["rule"] == "fewer_flags"
    with _client(scratch) as http:
        for anchor, (label, text) in {
            anchors[0]: ("newest", "it is the newest (first ingested 2099-01-01"),
            anchors[1]: ("fewer quality flags", "fewer quality flags (0 against 1 for"),
        }.items():
            page = http.get(f"/duplicates/{anchor}").text
            why = _text(re.search(r'<section id="why".*?</section>', page, re.S).group(0))  # type: ignore[union-attr]
            assert f": {label}\n" in why and text in why, why


def test_quarantine_decisions_are_stored_and_a_retry_reads_the_file_again(scratch: Config) -> None:
    with _client(scratch) as http:
        token = _csrf(http)
        page = http.get("/review/quarantine").text
        assert 'data-queue="quarantine" data-decisions="dismiss,retry,skip"' in page
        items = re.findall(r'<li id="[^"]+" data-item="([^"]+)"', page)
        assert len(items) == 3, "the demo quarantines three records"
        with Catalog.open(scratch.catalog_path, readonly=True) as cat:
            rows = cat.quarantined()
        for row in rows:
            assert html.escape(row["reason"]) in page and f"(line {row['locator']['line']})" in page
        assert http.get("/review/").text.count('<span id="quarantine-open">3</span>') == 1
        decide = "/review/quarantine/decide"
        for item, decision in zip(items, ("dismiss", "retry", "skip"), strict=True):
            answer = http.post(decide, json={"item": item, "decision": decision}, headers=token)
            assert answer.status_code == 201, answer.text
        bad = [
            http.post(decide, json={"item": items[0], "decision": "allow"}, headers=token),
            http.post(decide, json={"item": "999:0123456789abcdef", "decision": "dismiss"}, headers=token),
            http.post(decide, json={"item": items[0].split(":")[0] + ":0000000000000000", "decision": "dismiss"},
                      headers=token),  # a row id with another record's hash
        ]  # fmt: skip
        assert [r.status_code for r in bad] == [422, 422, 422]
        with Catalog.open(scratch.catalog_path, readonly=True) as cat:
            assert cat.decisions("quarantine") == dict(zip(items, ("dismiss", "retry", "skip"), strict=True))
        assert _retry_marks(scratch) == [rows[1]["file"]]
        waiting = re.findall(r'data-item="([^"]+)"', http.get("/review/quarantine").text)
        assert waiting == [items[2]]  # the skipped one; the decided ones show with ?all=1
        assert re.findall(r'data-item="([^"]+)"', http.get("/review/quarantine?all=1").text) == items

        # undo the retry: the file's mark comes off; retry again
        with Catalog.open(scratch.catalog_path, readonly=True) as cat:
            retry_id = cat.decisions_in_force("quarantine")[items[1]]["id"]
        assert http.post("/review/undo", json={"id": retry_id}, headers=token).status_code == 200
        assert _retry_marks(scratch) == []
        assert (
            http.post(decide, json={"item": items[1], "decision": "retry"}, headers=token).status_code == 201
        )

    with Catalog.open(scratch.catalog_path) as cat:
        report = run_ingest(scratch, cat)
    status = {f.path: f.status for f in report.files}
    assert status[rows[1]["file"]] == "ingested"  # read again from its start
    assert {s for p, s in status.items() if p != rows[1]["file"]} == {"unchanged"}
    with Catalog.open(scratch.catalog_path, readonly=True) as cat:
        assert cat.quarantined() == rows  # the config did not change: the same records, still bad
        queue = cat.quarantine_queue()
    assert _retry_marks(scratch) == []  # the re-read took the mark off
    assert [(q["item"], q["decision"], q["retried"]) for q in queue] == [
        (items[1], "retry", True),
        (items[2], "skip", False),
    ]
    with _client(scratch) as http:
        page = http.get("/review/quarantine").text
        assert "read again since the retry: still quarantined" in page


# -- in Chromium -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(shared: Config) -> Iterator[Server]:
    assert shared.config_path is not None
    with Server(shared.config_path) as srv:
        yield srv


def test_make_keeper_in_the_browser_stores_the_decision_and_undo_takes_it_back(
    shared: Config, server: Server, tab: Watched, screens: Path
) -> None:
    page = tab.page
    tab.goto(server.url + "/duplicates")
    assert not [s for s in PLANTED if s in page.inner_text("body")]
    page.screenshot(path=screens / "duplicates.png", full_page=True)
    first = page.locator("table.clusters tbody tr").first
    anchor = first.get_attribute("data-anchor")
    with page.expect_navigation():
        first.locator("a").click()
    assert page.url.endswith(f"/duplicates/{anchor}")
    expect(page.locator("#why")).to_contain_text("it is the newest")
    expect(page.locator("pre.diff del")).to_have_count(1)
    expect(page.locator("pre.diff ins")).to_have_count(1)
    other = page.locator("article.member:not(.keeper)")
    example = other.get_attribute("data-example")
    assert example and anchor
    other.get_by_role("button", name="Make this the keeper").click()
    status = page.locator("#keeper-status")
    expect(status).to_contain_text("becomes the keeper at the next curate run")
    expect(status).to_contain_text(example[:12])
    expect(other).to_have_class(re.compile(r"\bchosen\b"))
    expect(other.locator(".chosen-note")).to_be_visible()
    with Catalog.open(shared.catalog_path, readonly=True) as cat:
        assert cat.decisions("keepers") == {anchor: f"keep:{example}"}
    assert not [s for s in PLANTED if s in page.inner_text("body")]
    page.screenshot(path=screens / "duplicates-keeper-chosen.png", full_page=True)

    page.get_by_role("button", name="Undo the keeper decision").click()
    expect(status).to_contain_text("the priority rule chooses the keeper")
    expect(other).not_to_have_class(re.compile(r"\bchosen\b"))
    expect(page.get_by_role("button", name="Undo the keeper decision")).to_be_hidden()
    with Catalog.open(shared.catalog_path, readonly=True) as cat:
        assert cat.decisions("keepers") == {}
    tab.clean()


def test_the_quarantine_queue_by_keyboard(
    shared: Config, server: Server, tab: Watched, screens: Path
) -> None:
    page = tab.page
    tab.goto(server.url + "/review/quarantine")
    items = page.locator("#queue > li[data-item]")
    expect(items).to_have_count(3)
    keys = [items.nth(i).get_attribute("data-item") for i in range(3)]
    current = page.locator("#queue > li.current")

    def stored() -> dict[str, str]:
        with Catalog.open(shared.catalog_path, readonly=True) as cat:
            return cat.decisions("quarantine")

    expect(current).to_have_attribute("data-item", keys[0])  # type: ignore[arg-type]
    page.keyboard.press("a")
    expect(items.nth(0).locator(".decision")).to_have_text("dismiss")
    expect(current).to_have_attribute("data-item", keys[1])  # type: ignore[arg-type]
    page.keyboard.press("r")
    expect(items.nth(1).locator(".decision")).to_have_text("retry")
    expect(items.nth(1)).to_have_class(re.compile(r"\bdecided-retry\b"))
    page.keyboard.press("s")
    expect(items.nth(2).locator(".decision")).to_have_text("skip")
    assert stored() == dict(zip(keys, ("dismiss", "retry", "skip"), strict=True))  # type: ignore[arg-type]
    assert not [s for s in PLANTED if s in page.inner_text("body")]
    page.screenshot(path=screens / "review-quarantine.png", full_page=True)
    page.keyboard.press("u")  # undo the skip
    expect(items.nth(2).locator(".decision")).to_have_text("")
    expect(page.locator("#review-status")).to_have_text(f"undone: {keys[2]}")
    assert keys[2] not in stored()
    assert len(_retry_marks(shared)) == 1  # the retry marked the captures file
    tab.clean()
