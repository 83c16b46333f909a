"""The dashboard's pages: overview, examples (search, facets, detail) and review queues.

Every page is a Jinja2 template with autoescaping on for everything; no data is marked safe except
through `placeholders`, which escapes first and then wraps redaction placeholders in <mark>. Pages
show bodies only as curate redacted them (or redacted now by the config's rules when curate has
not scanned an example yet). State changes are JSON POSTs that carry the page's CSRF token.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field

from samdata.catalog import Catalog, utcnow
from samdata.catalog.review import QUEUES
from samdata.catalog.search import FACETS
from samdata.serve.api import read_catalog

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
PAGE_SIZE = 50

_PLACEHOLDER = re.compile(r"&lt;([A-Z][A-Z0-9_]{2,40})&gt;")


def _placeholders(text: object) -> Markup:
    """Escaped text with `<AWS_ACCESS_KEY>`-style redaction placeholders highlighted."""
    return Markup(_PLACEHOLDER.sub(r"<mark>&lt;\1&gt;</mark>", str(escape(text))))


def _json_text(value: object) -> str:
    """A value as JSON text (a string as is), escaped by autoescaping like any text (not `tojson`,
    whose \\u003c escapes would show literally inside <pre>)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["placeholders"] = _placeholders
templates.filters["json_text"] = _json_text


def csrf_token(request: Request) -> str:
    return hmac.new(request.app.state.secret, b"csrf", "sha256").hexdigest()


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(csrf_token=csrf_token(request), **context)
    return HTMLResponse(html, status)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    from samdata.browse import stats_document
    from samdata.pipeline.changes import describe

    with read_catalog(request) as cat:
        stats = stats_document(cat)
        problems = cat.latest_problems()
        last_run = cat.last_pipeline()
        return render(
            request, "overview.html", title="Overview", page="overview", stats=stats, problems=problems,
            expiring=[p for p in problems if p["kind"] == "expiring_transcripts"], last_run=last_run,
            last_changes=describe(last_run["changes"]) if last_run else [], last_capture=cat.last_capture(),
            growth=cat.cached("dashboard.growth", cat.growth),
        )  # fmt: skip


def text_of(body: dict[str, Any]) -> str:
    parts = []
    for key in ("messages", "prompt", "chosen", "rejected"):
        for m in body.get(key) or []:
            if isinstance(m, dict) and isinstance(m.get("content"), str):
                parts.append(f"{m.get('role', '')}: {m['content']}")
    return "\n".join(parts)


@router.get("/examples", response_class=HTMLResponse)
def examples(request: Request, q: str = "", offset: Annotated[int, Field(ge=0)] = 0) -> HTMLResponse:
    filters = {name: request.query_params[name] for name in FACETS if request.query_params.get(name)}
    with read_catalog(request) as cat:
        result = cat.search_examples(q, filters, PAGE_SIZE, offset)
    for row in result.rows:
        row["snippet"] = text_of(orjson.loads(row.pop("body")))[:300]

    def link(name: str, value: str | None) -> str:
        params = (
            {**filters, name: value} if value is not None else {k: v for k, v in filters.items() if k != name}
        )
        return "/examples?" + urlencode({"q": q, **params} if q else params)

    def page_link(at: int) -> str:
        return "/examples?" + urlencode({**({"q": q} if q else {}), **filters, "offset": max(0, at)})

    return render(request, "examples.html", title="Examples", page="examples", q=q, filters=filters,
                   result=result, offset=offset, limit=PAGE_SIZE, link=link, page_link=page_link)  # fmt: skip


@router.get("/examples/{example_id}", response_class=HTMLResponse)
def example(request: Request, example_id: str) -> Response:
    with read_catalog(request) as cat:
        ex = cat.example_view(example_id)
        if ex is None:
            return render(request, "missing.html", 404, title="Not found", page="examples", what=example_id)
        body = shown_body(request, cat, ex)
        runs = cat.runs_of_examples([example_id])
    conversation = [("", body["messages"])] if body.get("messages") else []
    for key in ("prompt", "chosen", "rejected"):
        if isinstance(body.get(key), list):
            conversation.append((key, body[key]))
    return render(request, "example.html", title=f"Example {example_id[:12]}", page="examples", ex=ex,
                   conversation=conversation, runs=runs)  # fmt: skip


@router.get("/examples/{example_id}/as-trained", response_class=HTMLResponse)
def example_as_trained(
    request: Request, example_id: str, run: int | None = None, recipe: str | None = None
) -> Response:
    """The example through a run's tokenizer and settings (`run`), or a recipe's with curate's tokenizer."""
    from samdata.curate.tokens import encoder
    from samdata.serve.as_trained import as_trained

    config = request.app.state.config
    with read_catalog(request) as cat:
        ex = cat.example_view(example_id)
        if ex is None or ex["kind"] != "sft":
            return render(request, "missing.html", 404, title="Not found", page="examples", what=example_id)
        body = shown_body(request, cat, ex)
        spec = cat.run(run) if run is not None else None
        if run is not None and spec is None:
            return render(
                request, "missing.html", 404, title="Not found", page="examples", what=f"run #{run}"
            )
        export_recipe = None
        if spec is not None and spec.get("export_id"):
            row = cat.conn.execute("SELECT recipe FROM exports WHERE id = ?", (spec["export_id"],)).fetchone()
            export_recipe = row[0] if row else None
    name = recipe or export_recipe or next(iter(config.recipes), None)
    chosen = config.recipes.get(name) if name else None
    options = (spec or {}).get("config") or {}  # the run's TrainOptions
    train = chosen.train if chosen is not None else None
    max_len = int(options.get("max_seq_length") or (train.max_seq_length if train else 2048))
    mask = bool(options.get("mask_prompt", train.mask_prompt if train else False))
    tokenizer = spec["base_model"] if spec else config.curate.tokenizer
    view = as_trained(body, chosen, encoder(str(tokenizer)), max_len, mask)
    basis = (f"run #{run}'s tokenizer ({tokenizer})" if spec else f"curate's tokenizer ({tokenizer})") + (
        f", recipe {name}" if name else ""
    )
    return render(request, "as_trained.html", title="As trained", page="examples", example_id=example_id,
                   view=view, basis=basis)  # fmt: skip


def shown_body(request: Request, cat: Catalog, ex: dict[str, Any]) -> dict[str, Any]:
    """The redacted body; an example curate has not scanned is redacted now with the config's rules."""
    if ex["redacted"] is not None:
        return orjson.loads(ex["redacted"])
    body = orjson.loads(cat.raw_body(ex["id"]) or "{}")
    if ex["scanned"]:
        return body  # scanned, nothing found
    from samdata.curate import secrets
    from samdata.curate.redact import scan_secrets

    settings = request.app.state.config.curate
    _, clean = scan_secrets(body, secrets.scanner_for(settings))
    return clean if clean is not None else body


@router.get("/review/", response_class=HTMLResponse)
def review_index(request: Request) -> HTMLResponse:
    from samdata.serve.voice_page import voice_waiting  # (it imports this module)

    with read_catalog(request) as cat:
        waiting = len(cat.secrets_queue(limit=10_000))
        quarantine = len(cat.quarantine_queue(limit=10_000))
        clusters = cat.cluster_totals()["clusters"]
        keepers = len(cat.decisions("keepers"))
        preferences = cat.preferences_waiting()
        voice = voice_waiting(cat)
    return render(request, "review_index.html", title="Review", page="review", secrets_open=waiting,
                   quarantine_open=quarantine, clusters=clusters, keepers_reviewed=keepers,
                   preferences_open=preferences, voice_open=voice)  # fmt: skip


@router.get("/review/secrets", response_class=HTMLResponse)
def review_secrets(request: Request, all: bool = False) -> HTMLResponse:
    from samdata.curate.secrets import PLACEHOLDER_KINDS

    with read_catalog(request) as cat:
        items = cat.secrets_queue(limit=500, include_decided=all)
        patterns = cat.conn.execute(
            "SELECT id, item, note, decided_at FROM review_decisions WHERE queue = 'secret_patterns' AND undone = 0"
            " ORDER BY id"
        ).fetchall()
    return render(request, "review_secrets.html", title="Secrets findings", page="review", items=items,
                   patterns=[dict(p) for p in patterns], kinds=sorted(PLACEHOLDER_KINDS))  # fmt: skip


@router.get("/review/preferences", response_class=HTMLResponse)
def review_preferences(request: Request) -> HTMLResponse:
    """Mined preference pairs (ChatGPT regenerations rated by feedback, OpenAssistant ranks): the
    prompt, chosen and rejected side by side (redacted), where each came from and the decision in
    force; undecided first. Decisions go to the generic `/review/preferences/decide`."""
    with read_catalog(request) as cat:
        items = cat.preference_queue(limit=500)
        waiting, total = cat.preferences_waiting(), len(cat.mined_preference_ids())
        for item in items:
            body = shown_body(request, cat, item)
            item["prompt"] = [*(body.get("messages") or []), *(body.get("prompt") or [])]
            item["chosen"] = body.get("chosen") or []
            item["rejected"] = body.get("rejected") or []
            for w in item["where"]:
                w["locator"] = ", ".join(f"{k} {v}" for k, v in w["locator"].items())
    return render(request, "review_preferences.html", title="Preference candidates", page="review",
                   items=items, waiting=waiting, total=total)  # fmt: skip


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: Annotated[str, Field(min_length=1, max_length=200)]
    decision: str
    note: Annotated[str, Field(max_length=200)] | None = None  # secret_patterns: the kind it is limited to


class Undo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int


def _csrf_ok(request: Request, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given, csrf_token(request))


CsrfHeader = Annotated[str | None, Header(alias="X-CSRF-Token")]


@router.post("/review/{queue}/decide")
def decide(request: Request, queue: str, body: Decision, token: CsrfHeader = None) -> JSONResponse:
    if not _csrf_ok(request, token):
        return JSONResponse({"error": "missing or wrong CSRF token: reload the page"}, 403)
    if queue not in QUEUES:
        return JSONResponse({"error": f"no review queue {queue!r}"}, 404)
    writer = request.app.state.config.catalog_path
    with Catalog.open(writer) as cat:
        previous = cat.decisions(queue).get(body.item)
        try:
            decision_id = cat.decide(queue, body.item, body.decision, utcnow(), body.note or None)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, 422)
    return JSONResponse({"id": decision_id, "previous": previous}, 201)


@router.post("/review/undo")
def undo(request: Request, body: Undo, token: CsrfHeader = None) -> JSONResponse:
    if not _csrf_ok(request, token):
        return JSONResponse({"error": "missing or wrong CSRF token: reload the page"}, 403)
    with Catalog.open(request.app.state.config.catalog_path) as cat:
        undone = cat.undo_decision(body.id)
    if undone is None:
        return JSONResponse({"error": f"no decision #{body.id} to undo"}, 404)
    return JSONResponse({"undone": undone})
