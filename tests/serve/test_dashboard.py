"""The dashboard's data paths in-process: search over redacted text, facets, the example page, and
review decisions (CSRF, undo) that curate re-applies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from samdata.capture import Capture
from samdata.catalog import Catalog
from samdata.catalog.search import _TEXT, fts_query, search_text
from samdata.config import Config
from samdata.pipeline import run_pipeline
from tests.serve.inprocess import client as _client
from tests.serve.inprocess import csrf_headers
from tests.serve.inprocess import curated_demo as _curated

AWS_KEY = "AKIAQ3EGUFYP7XLMN2RT"
SECRETS = (AWS_KEY, "Tr0ub4dor-3", "dana.w@example-family.org")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A curated demo catalog for the tests that only read."""
    return _curated(tmp_path_factory.mktemp("shared"))


@pytest.fixture()
def config(tmp_path: Path) -> Config:
    return _curated(tmp_path / "e")


def _csrf(http: TestClient) -> str:
    return csrf_headers(http)["X-CSRF-Token"]


def test_search_finds_words_never_secrets_and_facets_count_the_match(shared: Config) -> None:
    config = shared
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        indexed = cat.conn.execute("SELECT count(*) FROM examples_fts").fetchone()[0]
        live = cat.conn.execute("SELECT count(*) FROM examples WHERE forgotten = 0").fetchone()[0]
        assert indexed == live
        # The index is contentless: its vocabulary is what it holds, and it holds redacted text only.
        cat.conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, examples_fts, row)")
        vocabulary = {t for (t,) in cat.conn.execute("SELECT term FROM temp.vocab")}
        assert {"memory", "aws", "access"} <= vocabulary
        held = set()
        for secret in SECRETS:
            assert cat.search_examples(secret).total == 0, secret
            # the tokens only a secret makes (a word like "example" may be anywhere)
            distinctive = {
                w.lower() for w in re.findall(r"[^\W_]+", secret) if len(w) >= 5 and re.search(r"\d", w)
            }
            held |= distinctive
            assert not distinctive & vocabulary, secret
        assert {"akiaq3egufyp7xlmn2rt", "tr0ub4dor"} <= held
        placeholder = cat.search_examples("AWS_ACCESS_KEY")
        assert placeholder.total == 1
        everything = cat.search_examples("")
        assert everything.total == live
        sources = dict(everything.facets["source"])
        logs = cat.search_examples("", {"source": "sam-logs"})
        assert logs.total == sources["sam-logs"] == 12
        assert dict(logs.facets["source"]) == {"sam-logs": 12}
        both = cat.search_examples("", {"source": "dolly", "kind": "sft"})
        assert 0 < both.total == dict(cat.search_examples("", {"source": "dolly"}).facets["kind"])["sft"]
        # every word must match; the last one as a prefix
        word = cat.search_examples("memory")
        assert word.total >= 1
        assert cat.search_examples("memo").total >= word.total
        assert cat.search_examples("memory zzzunlikelyword").total == 0
        # paging is a window of the same order
        first, second = cat.search_examples("", limit=10), cat.search_examples("", limit=10, offset=10)
        assert len(first.rows) == len(second.rows) == 10
        assert not {r["id"] for r in first.rows} & {r["id"] for r in second.rows}


def test_curate_indexes_the_text_sqlite_would_extract(shared: Config) -> None:
    """Curate's workers give the index `search_text`; a later unindex gives FTS5 the `_TEXT` of the
    same body (a contentless index deletes by the text): they must agree on every example."""
    with Catalog.open(shared.catalog_path, readonly=True) as cat:
        rows = cat.conn.execute(
            f"SELECT coalesce(r.body, body_text(e.body)), {_TEXT} FROM examples e"
            " LEFT JOIN redactions r ON r.example_id = e.id"
        ).fetchall()
        assert len(rows) > 50
        for body, sql in rows:
            assert search_text(orjson.loads(body)) == sql
        # Shapes the demo lacks: content nested in content, keys out of order, no text at all.
        for body in (
            {
                "messages": [{"role": "user", "content": [{"z": {"content": "b"}, "content": "a"}]}],
                "kind": "sft",
            },
            {"kind": "sft", "messages": [], "content": 3},
        ):
            text = json.dumps(body)  # keys out of order: search_text reads them sorted, as stored
            (sql,) = cat.conn.execute(
                f"SELECT {_TEXT} FROM (SELECT ? AS body) e, (SELECT NULL AS body) r",
                (orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode(),),
            ).fetchone()
            assert search_text(json.loads(text)) == sql
        assert search_text({"messages": [{"content": [{"z": {"content": "b"}, "content": "a"}]}]}) == "a\nb"


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "NEAR(a b)",
        "a OR",
        "*",
        "col:value",
        "'; DROP TABLE examples; --",
        "AND",
        "dana.w@example-family.org",
        "café naïve",
        "東京タワーの夜",
        "e\u0301te\u0301",
        "snake_case-word",
        "x²",
        "٣ arabic digits",
    ],
)
def test_search_syntax_in_the_input_is_text(shared: Config, text: str) -> None:
    config = shared
    assert fts_query("") == ""
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        cat.search_examples(text)  # never an FTS5 syntax error
        assert cat.conn.execute("SELECT count(*) FROM examples").fetchone()[0] > 0


def test_new_and_forgotten_examples_enter_and_leave_the_index(config: Config) -> None:
    cap = Capture(config.catalog_path)
    new = cap.record_conversation([{"role": "user", "content": "Where is the zanzibarian lighthouse?"},
                                   {"role": "assistant", "content": "On the north cape."}])  # fmt: skip
    with Catalog.open(config.catalog_path) as cat:
        assert cat.search_examples("zanzibarian").total == 0  # not labelled yet: not searchable
    run_pipeline(config, stages=["curate"])
    with Catalog.open(config.catalog_path) as cat:
        hit = cat.search_examples("zanzibarian")
        assert [r["id"] for r in hit.rows] == [new]
        cat.forget([new])
        assert cat.search_examples("zanzibarian").total == 0
        cat.conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, examples_fts, row)")
        assert not cat.conn.execute("SELECT 1 FROM temp.vocab WHERE term = 'zanzibarian'").fetchall()


def test_pages_answer_and_show_only_redacted_text(shared: Config) -> None:
    config = shared
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        (example_id,) = cat.conn.execute(
            "SELECT example_id FROM findings WHERE kind = 'aws_access_key'"
        ).fetchone()
    with _client(config) as http:
        pages = ["/", "/examples", "/examples?q=aws", f"/examples/{example_id}", "/review/", "/review/secrets",
                 "/examples?source=sam-logs&kind=sft", "/review/secrets?all=true"]  # fmt: skip
        for path in pages:
            r = http.get(path)
            assert r.status_code == 200, path
            assert "default-src 'none'" in r.headers["content-security-policy"]
            for secret in SECRETS:
                assert secret not in r.text, (path, secret)
        detail = http.get(f"/examples/{example_id}").text
        assert "<mark>&lt;AWS_ACCESS_KEY&gt;</mark>" in detail
        assert "sam-logs" in detail and "Lineage" in detail
        assert http.get("/examples/0123456789abcdef").status_code == 404
        overview = http.get("/").text
        assert "Curation funnel" in overview and "missing_input" in overview


def test_an_example_curate_has_not_scanned_is_redacted_by_the_rules_now(config: Config) -> None:
    new = Capture(config.catalog_path).record_conversation(
        [{"role": "user", "content": "my key?"}, {"role": "assistant", "content": f"It is {AWS_KEY}."}]
    )
    with _client(config) as http:
        page = http.get(f"/examples/{new}").text
    assert AWS_KEY not in page and "&lt;AWS_ACCESS_KEY&gt;" in page and "not scanned" in page


def test_review_decisions_need_the_csrf_token_and_undo(config: Config) -> None:
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        item = cat.secrets_queue()[0]["hash"]
    with _client(config) as http:
        token = _csrf(http)
        refused = http.post("/review/secrets/decide", json={"item": item, "decision": "confirm"})
        assert refused.status_code == 403
        wrong = http.post("/review/secrets/decide", json={"item": item, "decision": "confirm"},
                          headers={"X-CSRF-Token": "0" * 64})  # fmt: skip
        assert wrong.status_code == 403
        other_site = http.post("/review/secrets/decide", json={"item": item, "decision": "confirm"},
                               headers={"X-CSRF-Token": token, "Origin": "https://evil.example"})  # fmt: skip
        assert other_site.status_code == 403
        bad = http.post("/review/secrets/decide", json={"item": item, "decision": "delete"},
                        headers={"X-CSRF-Token": token})  # fmt: skip
        assert bad.status_code == 422 and "confirm, allow, skip" in bad.json()["error"]
        assert http.post("/review/nope/decide", json={"item": item, "decision": "confirm"},
                         headers={"X-CSRF-Token": token}).status_code == 404  # fmt: skip
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            assert cat.decisions("secrets") == {}
        first = http.post("/review/secrets/decide", json={"item": item, "decision": "confirm"},
                          headers={"X-CSRF-Token": token})  # fmt: skip
        second = http.post("/review/secrets/decide", json={"item": item, "decision": "allow"},
                           headers={"X-CSRF-Token": token})  # fmt: skip
        assert first.status_code == second.status_code == 201 and second.json()["previous"] == "confirm"
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            assert cat.decisions("secrets") == {item: "allow"}
        undone = http.post("/review/undo", json={"id": second.json()["id"]}, headers={"X-CSRF-Token": token})
        assert undone.status_code == 200
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            assert cat.decisions("secrets") == {item: "confirm"}
            rows = cat.conn.execute("SELECT decision, undone FROM review_decisions ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [("confirm", 0), ("allow", 1)]
        assert http.post("/review/undo", json={"id": second.json()["id"]},
                         headers={"X-CSRF-Token": token}).status_code == 404  # fmt: skip
        # a confirmed item leaves the queue
        assert item not in http.get("/review/secrets").text


def test_an_allowed_finding_is_reapplied_by_curate_and_export(config: Config) -> None:
    with Catalog.open(config.catalog_path) as cat:
        found = cat.conn.execute(
            "SELECT hash, example_id FROM findings WHERE kind = 'aws_access_key'"
        ).fetchone()
    run_pipeline(config, stages=["export"])
    with Catalog.open(config.catalog_path) as cat:
        cat.decide("secrets", found["hash"], "allow", "2026-12-01T00:00:00+00:00")
    report = run_pipeline(config, stages=["curate", "export"])
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert (
            cat.conn.execute("SELECT count(*) FROM findings WHERE hash = ?", (found["hash"],)).fetchone()[0]
            == 0
        )
        assert cat.example_view(found["example_id"])["redacted"] is None
        assert cat.search_examples(AWS_KEY).total == 1  # the owner said it is not a secret
        # its old redacted text left the index with the placeholder it was indexed with
        assert cat.search_examples("AWS_ACCESS_KEY").total == 0
    written = {s.stage: s.status for s in report.stages}
    assert written["export:sam-sft"] == "ok"  # the decision changed what the export holds


def test_quality_flag_facet_counts_and_filters(shared: Config) -> None:
    with Catalog.open(shared.catalog_path, readonly=True) as cat:
        flags = dict(cat.search_examples("").facets["flag"])
        expected = cat.quality_flag_counts()
        assert flags and flags == {k: v for k, v in expected.items() if v}
        flag, n = next(iter(flags.items()))
        assert cat.search_examples("", {"flag": flag}).total == n


def test_the_as_trained_view_counts_tokens_marks_loss_and_the_cut(shared: Config) -> None:
    from samdata.curate.tokens import encoder
    from samdata.serve.as_trained import as_trained

    count = encoder("qwen2.5")
    body = {"messages": [{"role": "user", "content": "Explain tides in one line."},
                         {"role": "assistant", "content": "The moon pulls the sea. " * 40}]}  # fmt: skip
    recipe = shared.recipes["sam-sft"]
    full = as_trained(body, recipe, count, 4096, mask_prompt=False)
    added = full.turns[0].role == "system"
    assert [t.role for t in full.turns] == (["system"] if added else []) + ["user", "assistant"]
    assert full.turns[-1].tokens == count(body["messages"][1]["content"]) + 5
    assert full.total == sum(t.tokens for t in full.turns) and all(t.loss for t in full.turns)
    assert full.turns[-1].start == full.total - full.turns[-1].tokens
    masked = as_trained(body, recipe, count, 40, mask_prompt=True)
    assert [t.loss for t in masked.turns] == [t.role == "assistant" for t in masked.turns]
    assert masked.turns[-1].cut == "partly" and any("beyond max_seq_length" in n for n in masked.notes)
    assert as_trained(body, None, count, 10, False).turns[-1].cut == "all"
    with Catalog.open(shared.catalog_path, readonly=True) as cat:
        (example_id,) = cat.conn.execute(
            "SELECT example_id FROM findings WHERE kind = 'aws_access_key'"
        ).fetchone()
    with _client(shared) as http:
        page = http.get(f"/examples/{example_id}/as-trained")
        assert page.status_code == 200 and "&lt;|im_start|&gt;assistant" in page.text
        assert AWS_KEY not in page.text and "&lt;AWS_ACCESS_KEY&gt;" in page.text
        assert "carries loss" in page.text
        assert http.get(f"/examples/{example_id}/as-trained?run=999").status_code == 404


@pytest.mark.parametrize(("q", "filters"), [("", {"language": "en"}), ("memory", {"category": "code_general"}),
                                            ("the", {"language": "en", "source": "dolly"}), ("", {"category": "planning"})])  # fmt: skip
def test_a_rare_filter_value_driving_the_search_finds_the_same(
    shared: Config, monkeypatch: pytest.MonkeyPatch, q: str, filters: dict[str, str]
) -> None:
    import samdata.catalog.search as search

    found = {}
    with Catalog.open(shared.catalog_path, readonly=True) as cat:
        for small in (0, 10**9):  # never / always read the value's examples as a set first
            monkeypatch.setattr(search, "SMALL_SET", small)
            result = cat.search_examples(q, filters, limit=10**6)
            found[small] = (result.total, sorted(r["id"] for r in result.rows), result.facets)
    assert found[0][0] > 0
    assert found[0] == found[10**9]


def test_an_allowed_pattern_is_reapplied_by_curate_and_undone(config: Config) -> None:
    from samdata.curate.secrets import SecretScanner

    text = "write to dana.w@example-family.org, key AKIAQ3EGUFYP7XLMN2RT"
    assert [f.kind for f in SecretScanner(allow_patterns=[r"email:.*@example-family\.org"]).scan(text)] == [
        "aws_access_key"
    ]
    # limited to another kind, the pattern allows nothing here
    assert len(SecretScanner(allow_patterns=[r"aws_access_key:.*@example-family\.org"]).scan(text)) == 2
    with _client(config) as http:
        token = {"X-CSRF-Token": _csrf(http)}
        for bad, reason in (("(", "RE2"), (".*", "almost anything"), ("[a-z0-9.@-]+", "almost anything")):
            r = http.post(
                "/review/secret_patterns/decide", json={"item": bad, "decision": "allow"}, headers=token
            )
            assert r.status_code == 422 and reason in r.json()["error"], (bad, r.text)
        assert http.post("/review/secret_patterns/decide", json={"item": r".*@example-family\.org", "decision": "allow"}).status_code == 403  # fmt: skip
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            before = cat.data_version()
        r = http.post("/review/secret_patterns/decide",
                      json={"item": r".*@example-family\.org", "decision": "allow", "note": "email"}, headers=token)  # fmt: skip
        assert r.status_code == 201, r.text
        page = http.get("/review/secrets").text
        assert "example-family\\.org</code> email" in page
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert cat.data_version() > before
        assert cat.allowed_secret_patterns() == [r"email:.*@example-family\.org"]
    run_pipeline(config, stages=["curate"])
    with Catalog.open(config.catalog_path) as cat:
        kinds = {k for (k,) in cat.conn.execute("SELECT kind FROM findings")}
        assert "email" not in kinds and "aws_access_key" in kinds
        cat.undo_decision(r.json()["id"])
    run_pipeline(config, stages=["curate"])
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert "email" in {k for (k,) in cat.conn.execute("SELECT kind FROM findings")}
