"""`samdata serve` (the capture API) and `samdata browse` (Datasette on the catalog)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from samdata.cli._common import CatalogOpt, ConfigOpt, app, emit_json, err, fail, load


@app.command()
def serve(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind (default: [serve] host, 127.0.0.1). Off loopback a token is required."
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [serve] port, 8765).")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request (method, path, status).")] = False,
    openapi: Annotated[bool, typer.Option("--openapi", help="Print the OpenAPI document and exit.")] = False,
) -> None:
    """Serve the capture API (POST /api/capture/conversation|correction|escalation) and status
    (GET /api/health, /api/stats, /api/runs) over HTTP; every acknowledged capture is committed."""
    from samdata.serve import openapi_document
    from samdata.serve import serve as run_server
    from samdata.serve.security import is_loopback, load_or_create_token, token_path

    if openapi:
        emit_json(openapi_document())
        return
    cfg = load(config, catalog)
    host = host or cfg.serve.host
    port = port or cfg.serve.port
    if not is_loopback(host):
        load_or_create_token(cfg.catalog_path)
        err.print(f"bound to {escape(host)}: every request needs `Authorization: Bearer <token>`; the token"
                  f" is in {escape(str(token_path(cfg.catalog_path)))} (mode 0600)")  # fmt: skip
    err.print(f"serving {escape(str(cfg.catalog_path))} on http://{escape(host)}:{port} (Ctrl-C stops)")
    try:
        run_server(cfg, host, port, access_log)
    except OSError as e:
        fail(f"cannot serve on {host}:{port}: {e.strerror or e}")


@app.command()
def browse(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    port: Annotated[int, typer.Option(help="Port.")] = 8001,
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback only: Datasette has no token here).")
    ] = "127.0.0.1",
) -> None:
    """Datasette on the catalog, read-only: tables and columns described, facets, and canned queries
    (examples by source, secrets to review, quarantine by reason). Raw bodies are not served."""
    from samdata.serve.security import is_loopback

    cfg = load(config, catalog)
    if not is_loopback(host):
        fail(
            "browse serves the catalog without a token: bind it to 127.0.0.1 (or put it behind `samdata serve`)"
        )
    if not cfg.catalog_path.exists():
        fail(f"no catalog at {cfg.catalog_path}: run `samdata scan` or `samdata ingest` first")
    try:
        from samdata.serve.datasette import run_datasette
    except ImportError as e:
        fail(f"browse needs Datasette: pip install 'samdata[browse]' ({e})")
    err.print(f"browsing {escape(str(cfg.catalog_path))} on http://{host}:{port} (Ctrl-C stops)")
    run_datasette(cfg, host, port)
