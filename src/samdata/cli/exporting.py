"""`samdata export` and `export-diff`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from samdata.cli._common import (
    CatalogOpt,
    ConfigOpt,
    CountBar,
    JsonOpt,
    app,
    emit_json,
    fail,
    load,
    open_catalog,
    out,
)


@app.command("export-diff")
def export_diff(
    a: Annotated[int, typer.Argument(help="The earlier export id.")],
    b: Annotated[int, typer.Argument(help="The later export id.")],
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """What entered, left, or changed split between two exports (ids from `samdata export`)."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        try:
            diff = cat.export_diff(a, b)
        except KeyError as e:
            fail(f"no export #{e.args[0]}")
    if json:
        emit_json(diff)
        return
    out.print(
        f"export #{a} → #{b}: {len(diff['entered']):,} entered, {len(diff['left']):,} left, "
        f"{len(diff['moved']):,} changed split, {diff['unchanged']:,} unchanged"
    )


@app.command()
def export(
    recipe: Annotated[str, typer.Argument(help="A [recipes.NAME] of the config (or `diff A B`).")],
    ids: Annotated[list[int] | None, typer.Argument(help="With `diff`: the two export ids.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for train/valid/test.jsonl and manifest.json.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that holds files samdata did not write.")
    ] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write a recipe's train/valid/test files and manifest; the same catalog gives the same bytes.

    The summary says what was left out and every change made to rows. An older export in the
    folder is replaced whole. `samdata export diff A B` says what entered, left or changed split
    between two exports."""
    if recipe == "diff" and ids:
        if len(ids) != 2:
            fail("export diff takes two export ids: samdata export diff A B")
        export_diff(ids[0], ids[1], config, catalog, json)
        return
    if ids:
        fail(f"unexpected arguments after the recipe name: {' '.join(map(str, ids))}")
    if out_dir is None:
        fail("give the output folder: samdata export NAME --out DIR")
    from samdata.export import ExportError, run_export

    cfg = load(config, catalog)
    with open_catalog(cfg) as cat:
        try:
            result = run_export(
                cfg, cat, recipe, out_dir.absolute(), force=force, progress=CountBar(f"export {recipe}")
            )
        except ExportError as e:
            fail(str(e))
    if json:
        payload = {"export_id": result.export_id, "out": str(result.out_dir), "counts": result.counts,
                   "dropped": result.manifest["dropped"], "changed": result.manifest["changed"],
                   "notes": result.manifest["notes"], "files": result.manifest["files"]}  # fmt: skip
        emit_json(payload)
        return
    c = result.counts
    out.print(
        f"export #{result.export_id} → {result.out_dir}: {c['train']:,} train, {c['valid']:,} valid, {c['test']:,} test"
    )
    for reason, n in result.manifest["dropped"].items():
        out.print(f"  left out {n:,}: {escape(reason)}")
    for change, n in result.manifest["changed"].items():
        out.print(f"  changed {n:,}: {escape(change)}")
    for note, n in result.manifest["notes"].items():
        out.print(f"  note: {n:,} {escape(note)}")
    missing = [s for s in ("train", "valid", "test") if f"{s}.jsonl" not in result.manifest["files"]]
    if missing:
        out.print(f"  not written (fraction 0 or no rows): {', '.join(f'{s}.jsonl' for s in missing)}")
