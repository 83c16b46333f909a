"""The JSON API: live capture, health, stats, run history. Request bodies are pydantic models, so
the OpenAPI document (`/openapi.json`, committed as docs/openapi.json) is the validation itself."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from samdata import __version__
from samdata.capture import capture_item
from samdata.catalog import Catalog
from samdata.model import InvalidExample

router = APIRouter(prefix="/api")

KEY_MAX = 200


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    type: str | None = None
    function: dict[str, Any] | None = None


class ChatMessage(Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = Field(
        description="The text; null only for an assistant turn that only calls tools."
    )
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class Capture(Strict):
    meta: dict[str, Any] = Field(default_factory=dict, description="Anything to keep with the capture.")
    capture_id: Annotated[str, Field(min_length=1, max_length=KEY_MAX)] | None = Field(
        default=None, description="Makes a retry safe, like the Idempotency-Key header."
    )


class ConversationCapture(Capture):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]


Prompt = str | Annotated[list[ChatMessage], Field(min_length=1)]


class CorrectionCapture(Capture):
    prompt: Prompt
    original: str = Field(description="SAM's answer.")
    corrected: str = Field(description="The answer it should have given (stored as chosen).")


class EscalationCapture(Capture):
    prompt: Prompt
    answer: str = Field(description="The stronger model's answer.")


class Captured(BaseModel):
    id: str = Field(description="The example id (a content hash).")


class ErrorOut(BaseModel):
    error: str
    errors: list[dict[str, Any]] | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid JSON, an invalid Content-Length, or no Host header"},
    401: {"model": ErrorOut, "description": "Missing or wrong token"},
    403: {"model": ErrorOut, "description": "A cross-origin request (its Origin is another site)"},
    413: {"model": ErrorOut, "description": "Body too large"},
    415: {"model": ErrorOut, "description": "Not JSON"},
    421: {"model": ErrorOut, "description": "The Host header names another server (DNS rebinding)"},
    422: {
        "model": ErrorOut,
        "description": "A field is wrong, or the Idempotency-Key was used for another request",
    },
}
# What the security middleware may answer to a GET (no body, no Origin check).
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "No Host header"},
    401: _ERRORS[401],
    421: _ERRORS[421],
}


def _payload(kind: str, body: Capture) -> dict[str, Any]:
    data = body.model_dump(mode="json", exclude={"meta", "capture_id"}, exclude_none=True)
    if kind == "conversation":
        return {"messages": data["messages"]}
    return data


async def _capture(kind: str, body: Capture, request: Request, response: Response, key: str | None) -> Any:
    if key is not None and body.capture_id is not None and key != body.capture_id:
        return JSONResponse({"error": "Idempotency-Key and capture_id differ; send one of them"}, 422)
    key = key or body.capture_id
    try:
        item = capture_item(kind, _payload(kind, body), body.meta, key)
    except InvalidExample as e:
        return JSONResponse({"error": f"not a {kind}: {e}"}, 422)
    except orjson.JSONEncodeError as e:
        # Parsed, but not storable as JSON: an integer past 64 bits, a lone surrogate (\ud800).
        return JSONResponse({"error": f"not storable as JSON: {e}"}, 422)
    result = await asyncio.wrap_future(request.app.state.writer.submit(item))
    if result.conflict:
        return JSONResponse({"error": f"Idempotency-Key {key!r} was used for a different request"}, 422)
    response.status_code = 201
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return {"id": result.example_id}


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=KEY_MAX,
           description="Retries with the same key answer with the first answer and store nothing new."),
]  # fmt: skip


@router.post("/capture/conversation", status_code=201, response_model=Captured, responses=_ERRORS)
async def capture_conversation(
    body: ConversationCapture, request: Request, response: Response, key: IdempotencyKey = None
) -> Any:
    """Store a conversation (OpenAI-style messages) once it is committed."""
    return await _capture("conversation", body, request, response, key)


@router.post("/capture/correction", status_code=201, response_model=Captured, responses=_ERRORS)
async def capture_correction(
    body: CorrectionCapture, request: Request, response: Response, key: IdempotencyKey = None
) -> Any:
    """Store the owner's correction of an answer as a preference pair (corrected = chosen)."""
    return await _capture("correction", body, request, response, key)


@router.post("/capture/escalation", status_code=201, response_model=Captured, responses=_ERRORS)
async def capture_escalation(
    body: EscalationCapture, request: Request, response: Response, key: IdempotencyKey = None
) -> Any:
    """Store a stronger model's answer to a prompt SAM escalated."""
    return await _capture("escalation", body, request, response, key)


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    schema_version: int
    examples: int


def read_catalog(request: Request) -> Catalog:
    """The served catalog, opened read-only for one request (pages and API alike)."""
    return Catalog.open(request.app.state.config.catalog_path, readonly=True)


@router.get("/health", response_model=Health, responses=_READ_ERRORS)
def health(request: Request) -> Any:
    """The server answers and the catalog opens."""
    with read_catalog(request) as cat:
        n = cat.live_count()
        return {"status": "ok", "version": __version__, "schema_version": cat.schema_version(), "examples": n}


@router.get("/stats", responses=_READ_ERRORS)
def stats(request: Request) -> dict[str, Any]:
    """The document `samdata stats --json` prints."""
    from samdata.browse import stats_document

    with read_catalog(request) as cat:
        return stats_document(cat)


@router.get(
    "/runs",
    responses={**_READ_ERRORS, 422: {"model": ErrorOut, "description": "limit is out of range"}},
)
def runs(request: Request, limit: Annotated[int, Field(ge=1, le=1000)] = 20) -> dict[str, Any]:
    """The newest pipeline runs (stages, changes, errors) and every training run."""
    with read_catalog(request) as cat:
        return {"pipeline": cat.pipeline_runs(limit), "training": cat.runs()}
