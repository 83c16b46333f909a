"""`samdata trace` and `forget`: where an example came from and went, and wiping it."""

from __future__ import annotations

import sys
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

CONFIRM_ABOVE = 20  # matches beyond which --yes alone is not enough
PREVIEW = 10


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
    example_ids: Annotated[
        list[str] | None, typer.Argument(help="Example ids (or unique prefixes) to forget.")
    ] = None,
    match: Annotated[
        str | None,
        typer.Option(
            "--match",
            help="Forget every example (and quarantine snippet) whose text contains this "
            "(substring, case-insensitive).",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it (without it, only show what would be forgotten).")
    ] = False,
    expect: Annotated[
        int | None,
        typer.Option(
            help=f"Above {CONFIRM_ABOVE} matches, --yes also needs the count: --expect N confirms it."
        ),
    ] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Wipe examples from the catalog for good (re-ingest will not bring them back) and say where they went."""
    if not example_ids and not match:
        fail("give example ids or --match TEXT")
    from samdata.curate.secrets import scanner_for
    from samdata.forget import RULE, apply_forget, plan_forget

    cfg = load(config, catalog)
    scanner = scanner_for(cfg.curate)
    with open_catalog(cfg, write=yes) as cat:
        plan = plan_forget(cat, list(example_ids or []), match, scanner)
        if plan.empty:
            out.print("nothing to forget" + (f" (no text contains {match!r}: {RULE})" if match else ""))
            return
        if match:
            out.print(f"{len(plan.ids):,} examples and {len(plan.quarantine_ids):,} quarantined records contain "
                      f"{escape(repr(match))} ({RULE}):")  # fmt: skip
        for t in plan.traces[:PREVIEW]:
            exports = sorted({f"#{x['export_id']} {x['recipe']}" for x in t["exports"]})
            where = f" in exports {', '.join(exports)}" if exports else ""
            out.print(f"  {t['id']} ({len(t['provenance'])} sources{where})")
            if t["id"] in plan.previews:
                out.print(f"      {escape(plan.previews[t['id']])}")
        for qid in plan.quarantine_ids[: max(PREVIEW - len(plan.traces), 3)]:
            out.print(f"  quarantined record {qid}: {escape(plan.quarantine_previews[qid])}")
        shown = min(len(plan.traces), PREVIEW)
        if len(plan.ids) > shown:
            out.print(f"  … and {len(plan.ids) - shown:,} more examples")
        for r in plan.runs:
            adapter = f", adapter {escape(r['adapter_path'])}" if r["adapter_path"] else ""
            out.print(
                f"seen by run #{r['run_id']} ({r['backend']} {r['mode']}, {r['status']}, {r['examples']} of them{adapter})"
            )
        total = len(plan.ids) + len(plan.quarantine_ids)
        if not yes:
            out.print(f"{len(plan.ids):,} examples would be forgotten; run again with --yes")
            raise typer.Exit(EXIT_OK)
        if match and total > CONFIRM_ABOVE and expect != total:
            if not sys.stdin.isatty():
                fail(
                    f"{total:,} matches is more than {CONFIRM_ABOVE}: confirm the count with --expect {total}"
                )
            if typer.prompt(f"{total:,} matches: type {total} to forget them all", default="") != str(total):
                fail("not confirmed; nothing forgotten")
        n, q = apply_forget(cat, plan)
    out.print(f"forgot {n:,} examples and wiped {q:,} quarantine snippets; exports and adapters made before keep"
              " them until re-made")  # fmt: skip
