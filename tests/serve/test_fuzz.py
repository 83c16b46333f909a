"""A bounded schemathesis fuzz of the serve API against the committed docs/openapi.json.

Every operation of the document is sent schema-valid (positive) and schema-breaking (negative)
requests, through the real `create_app` app (security middleware, lifespan and writer thread):

- no request is answered with a 5xx, and every answer (status, content type, body, headers) is one
  the document describes;
- a negative request is refused with a 4xx; a positive one is stored (2xx) or refused only by
  the rules a schema cannot state (422 without per-field `errors`: the document is the validation);
- what the security middleware refuses (no token, another Host, another Origin) is documented too;
- inputs earlier runs found (a 5xx, an undocumented body, a 415 for a 405) stay fixed;
- afterwards the catalog holds exactly the examples answered with 201, every capture request row
  points at an existing example, and every example has its provenance.

The fuzz is deterministic (derandomized Hypothesis, no example database) and bounded so the file
runs well under a minute on two slow cores.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.core.parameters import ParameterLocation

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.serve import create_app
from tests.conftest import REPO, config_for

OPENAPI = REPO / "docs" / "openapi.json"
# The Host check answers 421 to anything but a loopback name (schemathesis' default is "testserver").
BASE_URL = "http://127.0.0.1:8765"

# Statuses an invalid request may get: bad JSON / body too large / not JSON / wrong field, and 405
# for the undeclared methods schemathesis also tries. Anything else (a 2xx above all) is a failure.
REFUSED = ["400", "405", "413", "415", "422"]

FUZZ = schemathesis.openapi.from_path(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "deterministic": True, "database": "none"},
            "checks": {"negative_data_rejection": {"expected-statuses": REFUSED}},
        }
    ),
)
# The refusals of the middleware come before any parsing, so a few valid requests per operation
# show them all; the coverage phase (hundreds of edge cases) would add nothing but time.
HOSTILE = schemathesis.openapi.from_path(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "positive", "deterministic": True, "database": "none"},
            "phases": {"coverage": {"enabled": False}, "examples": {"enabled": False}},
        }
    ),
)

# Explicit, so a new default check in a later 4.x release does not change what CI asserts.
# `positive_data_acceptance` is left out on purpose: schema-valid requests may still be refused by
# rules no schema states (a conversation without an answer, a correction equal to the original),
# and those 422s are asserted below instead.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]
DOCUMENTED = CHECKS[:5]

BOUNDED = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,  # a capture waits for an fsync'd commit; slow CI disks are not a bug
    suppress_health_check=list(HealthCheck),  # too_slow / filter_too_much trip on slow CI
    print_blob=True,
)

# Filled by the fuzz, read by the consistency test after it.
SENT: Counter[tuple[str, str]] = Counter()  # (operation, "mode phase" or "refused N") -> requests
STORED: set[str] = set()  # example ids answered with 201


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Any]]:
    """One catalog and app for the whole fuzz, so captures accumulate across operations."""
    config = config_for(tmp_path_factory.mktemp("fuzz"), "")
    yield config, create_app(config)


@FUZZ.parametrize()
@BOUNDED
def test_any_request_gets_a_documented_answer_and_never_a_5xx(
    case: schemathesis.Case, served: tuple[Config, Any]
) -> None:
    _config, app = served
    # Through the app itself: schemathesis' ASGI transport runs its lifespan (the capture writer)
    # once and keeps it until the test ends.
    response = case.call(app=app, base_url=BASE_URL)
    meta = case.meta
    assert meta is not None
    mode = meta.generation.mode.value
    SENT[(case.operation.label, f"{mode} {meta.phase.name.value}")] += 1
    case.validate_response(response, checks=CHECKS)
    status = response.status_code
    if meta.is_negative_at(ParameterLocation.BODY):
        # Stricter than negative_data_rejection's allowances: an invalid body is never stored.
        assert 400 <= status < 500, f"invalid body answered {status}: {response.text[:300]}"
    elif mode == "negative":
        # An invalid query or header, or a probe (an undeclared method, a Content-Type a GET
        # ignores): negative_data_rejection above judged it; here only "never stored" is left.
        assert status != 201, response.text[:300]
    elif case.method.upper() == "POST":
        assert status in (201, 422), f"valid capture answered {status}: {response.text[:300]}"
        if status == 422:
            # The document is the validation: a schema-valid body never fails field validation.
            assert "errors" not in response.json(), response.text[:300]
    else:
        assert status == 200, response.text[:300]
    if status == 201:
        STORED.add(response.json()["id"])


@pytest.fixture(scope="module")
def guarded(served: tuple[Config, Any]) -> Any:
    """The same catalog served as if bound off loopback: a token is needed (created beside the
    catalog), and the Host and Origin checks apply as to any request."""
    return create_app(served[0], host="0.0.0.0")


@HOSTILE.parametrize()
@settings(BOUNDED, max_examples=5)
def test_the_security_refusals_are_documented(case: schemathesis.Case, guarded: Any) -> None:
    # Nothing here may reach the catalog: the consistency test below counts on it.
    refusals: list[tuple[dict[str, str], int]] = [
        ({}, 401),
        ({"authorization": "Bearer not-the-token"}, 401),
        ({"host": "evil.example:8765"}, 421),
    ]
    if case.method.upper() == "POST":
        refusals.append(({"origin": "https://evil.example"}, 403))
    for headers, status in refusals:
        response = case.call(app=guarded, base_url=BASE_URL, headers=headers)
        SENT[(case.operation.label, f"refused {status}")] += 1
        case.validate_response(response, checks=DOCUMENTED, headers=headers)
        assert response.status_code == status, (headers, response.status_code, response.text[:300])


# What earlier (differently seeded) runs of the fuzz found, kept as fixed cases because a bounded
# fuzz is not sure to draw them again: (path, raw JSON body, status, what it was before the fix).
ANSWER = {"role": "assistant", "content": "a"}
FOUND = [
    ("/api/capture/correction",
     b'{"prompt": "", "original": "1", "corrected": "0", "meta": {"": -9223372036854775809}}',
     422, "500: orjson cannot store an integer past 64 bits"),
    ("/api/capture/conversation",
     b'{"messages": [{"role": "user", "content": "q\\ud800"}, ' + json.dumps(ANSWER).encode() + b"]}",
     422, "500: orjson cannot store a lone surrogate"),
    ("/api/capture/escalation", b"\x80{", 400, "400 as FastAPI's {'detail': ...}, not ErrorOut"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "status", "was"), FOUND, ids=["big-int", "surrogate", "not-utf8"])
def test_inputs_the_fuzz_found_get_documented_answers(
    served: tuple[Config, Any], path: str, body: bytes, status: int, was: str
) -> None:
    _config, app = served
    case = FUZZ[path]["POST"].Case(headers={"Content-Type": "application/json"})
    response = case.call(app=app, base_url=BASE_URL, data=body)  # raw: no serializer to fix it up
    case.validate_response(response, checks=DOCUMENTED)
    assert response.status_code == status, (was, response.text[:300])


@pytest.mark.parametrize(
    ("path", "declared", "method"),
    [("/api/health", "GET", "POST"), ("/api/capture/conversation", "POST", "PUT")],
)
def test_an_undeclared_method_is_a_405_not_a_415(
    served: tuple[Config, Any], path: str, declared: str, method: str
) -> None:
    # Found by the fuzz: the middleware refused a body-less request as "not JSON" before routing.
    _config, app = served
    case = FUZZ[path][declared].Case(method=method)
    response = case.call(app=app, base_url=BASE_URL)
    assert response.status_code == 405, response.text[:300]
    assert response.json() == {"error": "Method Not Allowed"} and response.headers["allow"]


def test_after_the_fuzz_the_catalog_holds_only_what_was_acknowledged(served: tuple[Config, Any]) -> None:
    config, _app = served
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        orphans = cat.conn.execute(
            "SELECT count(*) FROM capture_requests r LEFT JOIN examples e ON e.id = r.example_id"
            " WHERE e.id IS NULL"
        ).fetchone()[0]
        unsourced = cat.conn.execute(
            "SELECT count(*) FROM examples e WHERE NOT EXISTS"
            " (SELECT 1 FROM provenance p WHERE p.example_id = e.id)"
        ).fetchone()[0]
        dangling = cat.conn.execute(
            "SELECT count(*) FROM provenance p LEFT JOIN examples e ON e.id = p.example_id WHERE e.id IS NULL"
        ).fetchone()[0]
        stored = {row[0] for row in cat.conn.execute("SELECT id FROM examples")}
    assert (orphans, unsourced, dangling) == (0, 0, 0)
    # Refused requests stored nothing, and every 201 is in the catalog.
    assert stored == STORED
    # The fuzz (when this module's fuzz tests ran first) really reached the writer, not only the validation.
    assert STORED or not SENT, f"no capture was stored; sent {dict(SENT)}"
    _report(config.catalog_path, len(stored))


def _report(catalog: Path, examples: int) -> None:
    # Shown with -rP / -s: how much the bounded fuzz actually sent.
    for (operation, mode), n in sorted(SENT.items()):
        print(f"{operation:32} {mode:20} {n:5}")
    print(f"{sum(SENT.values())} requests, {examples} examples stored in {catalog}")
