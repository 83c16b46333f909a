"""`samdata ingest`, `curate` and the commands that read their results."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from samdata.browse import list_examples
from samdata.cli._common import (
    EXIT_PROBLEMS,
    CatalogOpt,
    ConfigOpt,
    IngestBar,
    JsonOpt,
    app,
    emit_json,
    err,
    fail,
    load,
    locator_text,
    open_catalog,
    out,
    print_funnel,
    print_ingest,
)
from samdata.curate import run_curate, verdict
from samdata.ingest import IngestError, run_ingest


@app.command()
def ingest(
    sources: Annotated[list[str] | None, typer.Argument(help="Only these sources (default: all).")] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Exit 1 when records were quarantined or a source matched no file."),
    ] = False,
) -> None:
    """Turn every source into canonical examples with provenance; bad records go to quarantine.

    Every record read is accounted for: produced, quarantined or skipped on purpose, by reason. A
    file whose records are not all accounted for is an error (exit 1)."""
    cfg = load(config, catalog)
    with open_catalog(cfg) as cat:
        try:
            report = run_ingest(cfg, cat, sources or None, progress=IngestBar())
        except IngestError as e:
            fail(str(e))
    summary = report.to_dict()
    if json:
        emit_json(summary)
    else:
        print_ingest(summary)
    for name in summary["empty_sources"]:
        err.print(f"[yellow]warning:[/] source {escape(name)} matches no file (check its path)", markup=True)
    for path in summary["unaccounted"]:
        err.print(f"[bold red]error:[/] {escape(path)}: records read without an outcome (a bug: please report)",
                  markup=True)  # fmt: skip
    if summary["unaccounted"]:
        raise typer.Exit(EXIT_PROBLEMS)
    if strict and (summary["quarantined"] or summary["empty_sources"]):
        raise typer.Exit(EXIT_PROBLEMS)


@app.command()
def stats(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Examples by kind and by source, and quarantined records."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        figures = cat.ingest_stats()
        figures["curation"] = {
            "funnel": verdict.funnel(cat),
            "quality_flags": cat.quality_flag_counts(),
            **cat.breakdowns(),
        }
    if json:
        emit_json(figures)
        return
    ex = figures["examples"]
    out.print(f"{ex['total']:,} examples: " + ", ".join(f"{n:,} {k}" for k, n in ex["by_kind"].items()))
    table = Table(title_justify="left")
    cols = ("sft", "preference", "kto", "files", "records", "produced", "quarantined", "skipped")
    for col in ("source", *cols):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name, s in figures["sources"].items():
        table.add_row(escape(name), *(f"{s[k]:,}" for k in cols))
    out.print(table)
    for name, s in figures["sources"].items():
        for why, n in s["skipped_by_reason"].items():
            out.print(f"  {escape(name)}: {n:,} skipped: {escape(why)}")
        for path in s["unaccounted_files"]:
            out.print(
                f"  [bold red]{escape(name)}: {escape(path)} has records without an outcome[/]", markup=True
            )
    cur = figures["curation"]
    if cur["by_category"]:
        print_funnel(cur["funnel"])
        for key in ("by_category", "by_language", "by_token_length"):
            out.print(
                f"{key.removeprefix('by_').replace('_', ' ')}: "
                + ", ".join(f"{k} {n:,}" for k, n in cur[key].items())
            )


@app.command()
def examples(
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="Only examples found in this source.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind: sft, preference or kto.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many (default: all).")] = None,
    unredacted: Annotated[
        bool,
        typer.Option("--unredacted", help="Show text as ingested, secrets included (default: redacted)."),
    ] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """The live examples (of a source): id, kind and turns; text redacted of secrets unless asked."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        if source is not None and source not in cat.source_names():
            fail(f"no source {source!r} in the catalog (sources: {', '.join(cat.source_names()) or 'none'})")
        rows = list(list_examples(cfg, cat, source, kind, limit, redacted=not unredacted))
    if json:
        emit_json({"examples": rows})
        return
    if not rows:
        out.print("no examples")
        return
    table = Table(title=f"{len(rows):,} examples", title_justify="left")
    for col in ("id", "kind", "turns", "text"):
        table.add_column(col)
    for r in rows:
        first = next(
            (m["content"] for m in r["messages"] if m["role"] == "user"),
            r["messages"][0]["content"] if r["messages"] else "",
        )
        table.add_row(
            r["id"], r["kind"], str(len(r["messages"]) + len(r.get("chosen") or [])), escape(first[:80])
        )
    out.print(table)


@app.command()
def quarantine(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    reason: Annotated[str | None, typer.Option(help="Only reasons containing this text.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="Records shown per reason.")] = 3,
) -> None:
    """Records that could not become examples, grouped by reason, with file and line."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        rows = cat.quarantined(reason, source)
    if json:
        emit_json(rows)
        return
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_reason.setdefault(r["reason"], []).append(r)
    if not by_reason:
        out.print("nothing quarantined")
    for why, items in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        out.print(f"[bold]{len(items):,}[/] × {escape(why)}", markup=True)
        for r in items[:limit]:
            where = locator_text(r["locator"])
            out.print(
                f"    {escape(r['file'])} ({escape(where)}) \\[{escape(r['source'])}] {escape(r['snippet'][:80])}",
                markup=True,
            )


@app.command()
def curate(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Label every ingested example: secrets and personal data (redacted), quality flags; print the funnel."""
    cfg = load(config, catalog)
    with open_catalog(cfg) as cat:
        report = run_curate(cfg, cat)
    if json:
        emit_json(report.to_dict())
        return
    out.print(
        "labelled: "
        + ", ".join(f"{n:,} by {d}" for d, n in report.labelled.items())
        + f" ({report.elapsed_s:.1f} s)"
    )
    print_funnel(report.funnel)
    if report.flags:
        out.print("quality flags: " + ", ".join(f"{k} {n:,}" for k, n in report.flags.items()))


@app.command()
def dupes(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Near-duplicate clusters found by curate: the keeper and every member with its source and locator."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        clusters = cat.clusters()
    if json:
        emit_json({"clusters": clusters})
        return
    if not clusters:
        out.print("no near-duplicate clusters (run `samdata curate` first if you have not)")
    for c in clusters:
        out.print(
            f"[bold]{c['keeper']}[/] keeps {len({m['id'] for m in c['members']})} examples:", markup=True
        )
        for m in c["members"]:
            mark = "keep" if m["id"] == c["keeper"] else "drop"
            where = locator_text(m["locator"])
            out.print(f"    {mark} {m['id']}  {escape(m['source'])} ({escape(where)})")


@app.command()
def secrets(config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False) -> None:
    """Secret and personal-data findings for review; add a finding's hash to [curate] allow to silence it."""
    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        findings = cat.secret_findings()
    if json:
        emit_json({"findings": findings})
        return
    if not findings:
        out.print("no findings (run `samdata curate` first if you have not)")
        return
    table = Table(title=f"{len(findings):,} findings", title_justify="left")
    for col in ("kind", "preview", "hash", "where", "source", "file"):
        table.add_column(col)
    for f in findings:
        where = f"{f['part']} " + locator_text(f["locator"])
        table.add_row(
            f["kind"], escape(f["preview"]), f["hash"], escape(where), escape(f["source"]), escape(f["file"])
        )
    out.print(table)
