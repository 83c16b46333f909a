"""The capture API in-process (the ASGI app with its writer thread): answers, errors, and what is stored."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.serve import create_app, openapi_document
from samdata.serve.security import token_path
from tests.conftest import REPO, config_for

CHAT = {"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."}],
        "meta": {"app": "sam", "session": 7}}  # fmt: skip


@pytest.fixture()
def config(tmp_path: Path) -> Config:
    return config_for(tmp_path, "")


def _client(config: Config, host: str = "127.0.0.1", base: str = "http://127.0.0.1:8765") -> TestClient:
    return TestClient(create_app(config, host), base_url=base)


def _stored(config: Config) -> dict[str, int]:
    with Catalog.open(config.catalog_path) as cat:
        q = "SELECT count(*) FROM {}"
        return {t: cat.conn.execute(q.format(t)).fetchone()[0]
                for t in ("examples", "provenance", "capture_requests")}  # fmt: skip


def test_a_capture_answers_201_once_committed_and_a_retry_stores_nothing_new(config: Config) -> None:
    with _client(config) as http:
        r = http.post("/api/capture/conversation", json=CHAT, headers={"Idempotency-Key": "k-1"})
        assert r.status_code == 201, r.text
        example_id = r.json()["id"]
        with Catalog.open(config.catalog_path) as cat:  # committed before the answer
            ex = cat.example(example_id)
            assert ex["body"]["messages"][1]["content"] == "4."
        before = _stored(config)
        again = http.post("/api/capture/conversation", json=CHAT, headers={"Idempotency-Key": "k-1"})
        assert again.status_code == 201 and again.json() == {"id": example_id}
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in r.headers
        assert _stored(config) == before
        # capture_id in the body works like the header
        body = {**CHAT, "capture_id": "k-2", "meta": {"other": True}}
        first = http.post("/api/capture/conversation", json=body)
        assert first.status_code == 201
        second = http.post("/api/capture/conversation", json=body)
        assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"


def test_corrections_and_escalations_are_stored_as_their_kinds(config: Config) -> None:
    with _client(config) as http:
        c = http.post("/api/capture/correction",
                      json={"prompt": "Capital of Australia?", "original": "Sydney", "corrected": "Canberra"})  # fmt: skip
        e = http.post("/api/capture/escalation",
                      json={"prompt": [{"role": "user", "content": "Prove it"}], "answer": "Here is a proof."})  # fmt: skip
        assert c.status_code == 201 and e.status_code == 201, (c.text, e.text)
    with Catalog.open(config.catalog_path) as cat:
        pair = cat.example(c.json()["id"])
        esc = cat.example(e.json()["id"])
    assert pair["kind"] == "preference" and pair["body"]["chosen"][-1]["content"] == "Canberra"
    assert pair["body"]["rejected"][-1]["content"] == "Sydney"
    assert esc["kind"] == "sft" and esc["body"]["messages"][-1]["content"] == "Here is a proof."


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"),
    [
        ("/api/capture/conversation", b"{not json", {"content-type": "application/json"}, 400, "invalid JSON"),
        ("/api/capture/conversation", json.dumps(CHAT).encode(), {"content-type": "text/plain"}, 415, "send JSON"),
        ("/api/capture/conversation", json.dumps(CHAT).encode(), {}, 415, "no content type"),
        ("/api/capture/conversation",
         json.dumps({"messages": [{"role": "robot", "content": "x"}]}).encode(),
         {"content-type": "application/json"}, 422, "messages[0].role"),
        ("/api/capture/conversation",
         json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(),
         {"content-type": "application/json"}, 422, "messages[0].content"),
        ("/api/capture/conversation", json.dumps({"messages": "hello"}).encode(),
         {"content-type": "application/json"}, 422, "messages"),
        ("/api/capture/conversation", json.dumps({"messages": []}).encode(),
         {"content-type": "application/json"}, 422, "messages"),
        ("/api/capture/conversation", json.dumps({**CHAT, "extra": 1}).encode(),
         {"content-type": "application/json"}, 422, "extra"),
        ("/api/capture/conversation",
         json.dumps({"messages": [{"role": "user", "content": "only a question"}]}).encode(),
         {"content-type": "application/json"}, 422, "not a conversation"),
        ("/api/capture/correction", json.dumps({"prompt": "p", "original": "same", "corrected": "same"}).encode(),
         {"content-type": "application/json"}, 422, "identical"),
        ("/api/capture/correction", json.dumps({"prompt": "p", "original": "a"}).encode(),
         {"content-type": "application/json"}, 422, "corrected"),
        ("/api/capture/conversation", b"[" + b'"x",' * 400_000 + b'"x"]',
         {"content-type": "application/json"}, 413, "over 1,048,576 bytes"),
    ],
    ids=["invalid-json", "text-plain", "no-content-type", "unknown-role", "wrong-type", "not-a-list",
         "empty", "unknown-field", "no-answer", "identical-correction", "missing-field", "oversized"],
)  # fmt: skip
def test_bad_input_is_a_4xx_naming_the_problem_and_stores_nothing(
    config: Config, path: str, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    with _client(config) as http:
        before = _stored(config)
        r = http.post(path, content=body, headers=headers)
        assert r.status_code == status, r.text
        assert message in r.json()["error"], r.json()
        assert _stored(config) == before


def test_an_oversized_body_without_content_length_is_cut_off(config: Config) -> None:
    def chunks():  # chunked transfer: no Content-Length to check up front
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}]}'

    with _client(config) as http:
        r = http.post(
            "/api/capture/conversation", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413, r.text
        assert _stored(config)["examples"] == 0


def test_a_key_reused_for_another_request_is_refused(config: Config) -> None:
    with _client(config) as http:
        assert (
            http.post("/api/capture/conversation", json=CHAT, headers={"Idempotency-Key": "same"}).status_code
            == 201
        )
        other = {
            "messages": [{"role": "user", "content": "Another?"}, {"role": "assistant", "content": "Yes."}]
        }
        before = _stored(config)
        r = http.post("/api/capture/conversation", json=other, headers={"Idempotency-Key": "same"})
        assert r.status_code == 422 and "different request" in r.json()["error"]
        r = http.post(
            "/api/capture/conversation", json={**CHAT, "capture_id": "a"}, headers={"Idempotency-Key": "b"}
        )
        assert r.status_code == 422 and "differ" in r.json()["error"]
        assert _stored(config) == before


def test_host_and_origin_checks_refuse_other_sites(config: Config) -> None:
    with _client(config) as http:
        r = http.get("/api/health", headers={"host": "evil.example:8765"})
        assert r.status_code == 421 and "evil.example" in r.json()["error"]
        r = http.post("/api/capture/conversation", json=CHAT, headers={"origin": "https://evil.example"})
        assert r.status_code == 403 and "cross-origin" in r.json()["error"]
        r = http.post("/api/capture/conversation", json=CHAT, headers={"origin": "null"})
        assert r.status_code == 403
        assert _stored(config)["examples"] == 0
        ok = http.post("/api/capture/conversation", json=CHAT, headers={"origin": "http://localhost:8765"})
        assert ok.status_code == 201
        assert http.get("/api/health", headers={"host": "localhost:8765"}).status_code == 200


def test_bound_off_loopback_a_token_is_required(config: Config) -> None:
    with _client(config, host="0.0.0.0", base="http://192.0.2.10:8765") as http:
        path = token_path(config.catalog_path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        assert len(token) >= 32
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": token}):
            r = http.post("/api/capture/conversation", json=CHAT, headers=headers)
            assert r.status_code == 401 and "token" in r.json()["error"], headers
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert http.get("/api/stats", headers=headers).status_code == 401
        assert _stored(config)["examples"] == 0
        good = {"authorization": f"Bearer {token}"}
        assert http.post("/api/capture/conversation", json=CHAT, headers=good).status_code == 201
        assert http.get("/api/health", headers=good).json()["examples"] == 1
    # the same token is read back, not replaced, and a loosened file is tightened
    path.chmod(0o644)
    with _client(config, host="0.0.0.0", base="http://192.0.2.10:8765") as http:
        assert http.get("/api/health", headers={"authorization": f"Bearer {token}"}).status_code == 200
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_health_stats_and_runs_read_the_catalog(config: Config) -> None:
    from samdata.browse import stats_document

    with _client(config) as http:
        http.post("/api/capture/conversation", json=CHAT)
        health = http.get("/api/health").json()
        assert health["status"] == "ok" and health["examples"] == 1
        with Catalog.open(config.catalog_path) as cat:
            assert http.get("/api/stats").json() == json.loads(json.dumps(stats_document(cat)))
        runs = http.get("/api/runs").json()
        assert runs == {"pipeline": [], "training": []}
        assert http.get("/api/runs?limit=0").status_code == 422


def test_the_committed_openapi_document_is_the_served_one(config: Config) -> None:
    committed = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(openapi_document())), (
        "docs/openapi.json is stale: run `samdata serve --openapi > docs/openapi.json`"
    )
    with _client(config) as http:
        assert http.get("/openapi.json").json() == committed
