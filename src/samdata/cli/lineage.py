"""`samdata trace` and `forget`: where an example came from and went, and wiping it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from samdata.cli._common import (
    EXIT_OK,
    CatalogOpt,
    ConfigOpt,
    JsonOpt,
    app,
    emit_json,
    fail,
    load,
    locator_text,
    open_catalog,
    out,
)


@app.command()
def trace(
    example_id: Annotated[str, typer.Argument(help="An example id (or a unique prefix of one).")],
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """Where an example came from (every file and locator) and went (every export and split)."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        ids = cat.resolve_ids(example_id)
        if len(ids) != 1:
            fail(
                f"{example_id!r} matches {len(ids) if len(ids) < 11 else 'more than 10'} examples; give more of the id"
            )
        info = cat.trace(ids[0])
    assert info is not None
    if json:
        emit_json(info)
        return
    out.print(
        f"[bold]{info['id']}[/] {info['kind']}{' (forgotten)' if info['forgotten'] else ''}", markup=True
    )
    for p in info["provenance"]:
        where = locator_text(p["locator"])
        out.print(f"  from {escape(p['source'])}: {escape(p['file'])} ({escape(where)})")
    for x in info["exports"]:
        out.print(
            f"  in export #{x['export_id']} {escape(x['recipe'])} → {x['split']} ({escape(x['out_dir'])})"
        )
    if not info["exports"]:
        out.print("  in no export")
    for r in info["runs"]:
        out.print(
            f"  trained in run #{r['run_id']} ({r['backend']} {r['mode']}, {r['status']}) on export #{r['export_id']}"
        )


@app.command()
def forget(
    example_ids: Annotated[list[str] | None, typer.Argument(help="Example ids to forget.")] = None,
    match: Annotated[
        str | None, typer.Option("--match", help="Forget every example whose text contains this.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it (without it, only show what would be forgotten).")
    ] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Wipe examples from the catalog for good (re-ingest will not bring them back) and say where they went."""
    if not example_ids and not match:
        fail("give example ids or --match TEXT")
    cfg = load(config, catalog)
    with open_catalog(cfg) as cat:
        ids = list(example_ids or [])
        if match:
            ids += cat.match_ids(match)
        traces = [t for t in (cat.trace(i) for i in sorted(set(ids))) if t is not None]
        for t in traces:
            exports = sorted({f"#{x['export_id']} {x['recipe']}" for x in t["exports"]})
            out.print(
                f"{t['id']} ({len(t['provenance'])} sources){' in exports ' + ', '.join(exports) if exports else ''}"
            )
        if not traces:
            out.print("nothing to forget")
            return
        for r in cat.runs_of_examples([t["id"] for t in traces]):
            adapter = f", adapter {escape(r['adapter_path'])}" if r["adapter_path"] else ""
            out.print(
                f"seen by run #{r['run_id']} ({r['backend']} {r['mode']}, {r['status']}, {r['examples']} of them{adapter})"
            )
        if not yes:
            out.print(f"{len(traces)} examples would be forgotten; run again with --yes")
            raise typer.Exit(EXIT_OK)
        n = cat.forget([t["id"] for t in traces])
    out.print(f"forgot {n} examples; exports and adapters made before keep them until re-made")
