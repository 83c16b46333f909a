"""`samdata serve`: the local HTTP server (capture API now; the dashboard builds on it).

`create_app` builds the ASGI app for a config: FastAPI routes behind one security middleware
(`serve.security`), a single capture writer thread (`serve.writer`) started and drained with the
app. `serve` runs it under uvicorn.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from samdata import __version__
from samdata.catalog import Catalog
from samdata.config import Config
from samdata.serve import api, dupes_page, exports_page, pages, runs_page, voice_page
from samdata.serve.security import Guard, allowed_hosts, is_loopback, load_or_create_token
from samdata.serve.writer import CaptureWriter


class ServeError(Exception):
    """The server cannot start as asked."""


def _field(loc: tuple[Any, ...]) -> str:
    """('body', 'messages', 0, 'role') → messages[0].role"""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "header", "query") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or str(loc[0] if loc else "body")


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        e = next(e for e in errors if e["type"] == "json_invalid")
        where = e.get("ctx", {}).get("error", "")
        return JSONResponse({"error": f"invalid JSON: {where}".rstrip(": ")}, 400)
    fields = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in errors]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return JSONResponse({"error": f"{first['field']}: {first['message']}{more}", "errors": fields}, 422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    # The framework's own refusals (404, 405, a body it cannot decode) in the documented shape,
    # `{"error": ...}` like every other error, not FastAPI's `{"detail": ...}`.
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)


def create_app(config: Config, host: str = "127.0.0.1", token: str | None = None) -> Any:
    """The ASGI app serving `config`'s catalog as if bound to `host`. Bound off loopback, a token
    is required (read or created beside the catalog when not given)."""
    if token is None and not is_loopback(host):
        token = load_or_create_token(config.catalog_path)
    Catalog.open(config.catalog_path).close()  # create or upgrade it before any request reads it
    app = _api(config)
    unbound = host in ("0.0.0.0", "::", "")
    return Guard(app, allowed_hosts(host, config.serve.allowed_hosts), token, config.serve.max_body_bytes,
                 any_ip_host=unbound)  # fmt: skip


def _api(config: Config | None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert config is not None
        writer = CaptureWriter(config.catalog_path)
        writer.start()
        app.state.writer = writer
        try:
            yield
        finally:
            writer.close()

    app = FastAPI(
        title="samdata",
        version=__version__,
        summary="Local capture and status API of samdata's catalog.",
        lifespan=lifespan,
        exception_handlers={RequestValidationError: _invalid, HTTPException: _http_error},
    )
    app.state.config = config
    app.state.secret = secrets.token_bytes(32)  # CSRF tokens: valid for this server process
    app.include_router(api.router)
    app.include_router(pages.router)
    for page in (dupes_page, exports_page, runs_page, voice_page):
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=Path(pages.__file__).parent / "static"), name="static")
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document the app serves at /openapi.json (committed as docs/openapi.json)."""
    return _api(None).openapi()


def serve(config: Config, host: str, port: int, access_log: bool = False) -> None:
    """Run the server until interrupted."""
    import uvicorn

    if not is_loopback(host):
        load_or_create_token(config.catalog_path)
    uvicorn.run(create_app(config, host), host=host, port=port, access_log=access_log, log_level="warning",
                server_header=False, proxy_headers=False)  # fmt: skip
