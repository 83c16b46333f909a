"""`samdata ingest`, `curate` and the commands that read their results."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from samdata.cli._common import (
    EXIT_PROBLEMS,
    CatalogOpt,
    ConfigOpt,
    EngineOpt,
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
    stage_engine,
)


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
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes for big files (default: [ingest] workers, else every core)."),
    ] = None,
    engine: EngineOpt = None,
) -> None:
    """Turn every source into canonical examples with provenance; bad records go to quarantine.

    Every record read is accounted for: produced, quarantined or skipped on purpose, by reason. A
    file whose records are not all accounted for is an error (exit 1)."""
    from samdata.cli.bars import IngestBar
    from samdata.ingest import IngestError, run_ingest

    cfg = load(config, catalog)
    if workers is not None:
        cfg = cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update={"workers": workers})})
    with open_catalog(cfg) as cat, stage_engine(cfg, engine, workers) as on:
        try:
            report = run_ingest(cfg, cat, sources or None, progress=IngestBar(), engine=on)
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
    from samdata import browse

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        figures = browse.stats_document(cat)
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
    flag: Annotated[
        str | None, typer.Option(help="Only examples with this quality flag (samdata stats lists them).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many (default: all).")] = None,
    unredacted: Annotated[
        bool,
        typer.Option("--unredacted", help="Show text as ingested, secrets included (default: redacted)."),
    ] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """The live examples (of a source, kind or quality flag): id, kind, turns and first words.

    Text is redacted of secrets unless --unredacted; `samdata show ID` prints one whole."""
    from samdata.browse import first_words, list_examples

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        if source is not None and source not in cat.source_names():
            fail(f"no source {source!r} in the catalog (sources: {', '.join(cat.source_names()) or 'none'})")
        rows = list(list_examples(cfg, cat, source, kind, limit, redacted=not unredacted, flag=flag))
    if json:
        emit_json({"examples": rows})
        return
    if not rows:
        out.print("no examples")
        return
    table = Table(title=f"{len(rows):,} examples", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=32)
    table.add_column("kind")
    table.add_column("turns", justify="right")
    table.add_column("first words")
    for r in rows:
        turns = len(r["messages"]) + len(r.get("chosen") or [])
        table.add_row(r["id"], r["kind"], str(turns), escape(first_words(r)))
    out.print(table)


@app.command()
def show(
    example_id: Annotated[str, typer.Argument(help="An example id (or a unique prefix of one).")],
    unredacted: Annotated[
        bool,
        typer.Option("--unredacted", help="Show text as ingested, secrets included (default: redacted)."),
    ] = False,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """One example: its text, labels, flags and tokens, where it came from, and why it is or is not
    in each export."""
    from samdata import browse

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        ids = cat.resolve_ids(example_id)
        if len(ids) != 1:
            fail(
                f"{example_id!r} matches {len(ids) if len(ids) < 11 else 'more than 10'} examples; give more of the id"
            )
        info = browse.show(cfg, cat, ids[0], redacted=not unredacted)
    if json:
        emit_json(info)
        return
    print_example(info)


def _print_turns(title: str, turns: list[dict[str, Any]]) -> None:
    out.print(f"[bold]{title}[/]", markup=True)
    for m in turns:
        mark = " (context, not trained)" if m.get("train") is False else ""
        out.print(f"[cyan]{m['role']}{escape(mark)}:[/] {escape(m['content'])}", markup=True)
        for c in m.get("tool_calls") or []:
            args = (
                c["arguments"] if isinstance(c["arguments"], str) else orjson.dumps(c["arguments"]).decode()
            )
            out.print(f"    → {escape(c['name'])}({escape(args)})")


def print_example(info: dict[str, Any]) -> None:
    """An example for people: turns, labels, provenance, and what each recipe does with it."""
    body, attrs = info["body"], info["attributes"]
    out.print(
        f"[bold]{info['id']}[/] {info['kind']}{' (forgotten)' if info['forgotten'] else ''}", markup=True
    )
    _print_turns("prompt" if info["kind"] == "preference" else "turns", body["messages"])
    for side in ("chosen", "rejected"):
        if body.get(side):
            _print_turns(side, body[side])
    if "label" in body:
        out.print(f"label: {body['label']}")
    labels = []
    if "category" in attrs:
        labels.append(f"category {attrs['category'].get('category')}")
    if "language" in attrs:
        lang = attrs["language"]
        labels.append(
            f"language {lang.get('lang')}" + (" (not the source's)" if lang.get("mismatch") else "")
        )
    if "tokens" in attrs:
        labels.append(f"{attrs['tokens'].get('tokens'):,} tokens")
    out.print("labels: " + (", ".join(labels) if labels else "not curated yet (samdata curate)"))
    for f in attrs.get("quality") or []:
        out.print(f"quality flag {f['flag']}: {escape(f['reason'])}")
    if attrs.get("secrets"):
        out.print(f"secrets: {', '.join(sorted(set(attrs['secrets'])))} (exported redacted)")
    near = attrs.get("neardup")
    if near:
        role = "the keeper" if near.get("keeper") else f"left out for {near['keeper_id']}"
        out.print(f"near-duplicates: {role}")
    for p in info["provenance"]:
        out.print(f"from {escape(p['source'])}: {escape(p['file'])} ({escape(locator_text(p['locator']))})")
    for name, verdict_ in info["recipes"].items():
        what = f"in {verdict_['split']}" if verdict_["in"] else f"left out: {verdict_['reason']}"
        out.print(f"recipe {escape(name)}: {escape(what)}")
    for x in info["exports"]:
        out.print(
            f"in export #{x['export_id']} {escape(x['recipe'])} → {x['split']} ({escape(x['out_dir'])})"
        )
    for r in info["runs"]:
        out.print(f"trained in run #{r['run_id']} ({r['backend']} {r['mode']}, {r['status']})")


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
    from samdata.curate.secrets import scanner_for

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        rows = cat.quarantined(reason, source)
    # Stored snippets are redacted at ingest; catalogs made before that are redacted here.
    scanner = scanner_for(cfg.curate)
    for r in rows:
        r["snippet"], r["reason"] = scanner.redact_text(r["snippet"]), scanner.redact_text(r["reason"])
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
def curate(
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")] = None,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    engine: EngineOpt = None,
) -> None:
    """Label every ingested example (secrets and personal data redacted, quality flags, near-duplicates,
    categories, language, tokens) on every core; print the funnel."""
    from samdata.cli.bars import CurateBar
    from samdata.curate import run_curate

    cfg = load(config, catalog)
    with open_catalog(cfg) as cat, stage_engine(cfg, engine, workers) as on:
        report = run_curate(cfg, cat, CurateBar(), workers=workers, engine=on)
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
    """Near-duplicate clusters found by curate, largest first: the keeper and every member with its
    source, file, locator and first words."""
    from samdata import browse

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        found = browse.clusters(cfg, cat)
    if json:
        emit_json({"clusters": found})
        return
    if not found:
        out.print("no near-duplicate clusters (run `samdata curate` first if you have not)")
        return
    examples = sum(len({m["id"] for m in c["members"]}) for c in found)
    out.print(
        f"{len(found):,} clusters hold {examples:,} examples; {examples - len(found):,} are not kept (exports leave them out by default)"
    )
    for c in found:
        out.print(f"[bold]{c['keeper']}[/] keeps 1 of {len({m['id'] for m in c['members']})}:", markup=True)
        for m in c["members"]:
            mark = "keep" if m["id"] == c["keeper"] else "drop"
            out.print(
                f"    {mark} {m['id']}  {escape(m['source'])}: {escape(m['file'])} ({escape(locator_text(m['locator']))})"
            )
            out.print(f"         {escape(m['text'])}")


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
    # One row per finding (an example found in several files lists its first).
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for f in findings:
        key = (f["example_id"], f["part"], f["start"])
        if key in rows:
            rows[key]["more"] += 1
        else:
            rows[key] = {**f, "more": 0}
    # Full hashes and ids at any terminal width: one line per finding, its place below it.
    out.print(f"{len(rows):,} findings (silence a reviewed one: its hash in [curate] allow)", markup=False)
    for f in rows.values():
        out.print(f"{f['kind']:<20} {escape(f['preview']):<12} hash {f['hash']}  example {f['example_id']}")
        more = f" (+{f['more']} more)" if f["more"] else ""
        where = f"{f['source']}: {f['file']} ({locator_text(f['locator'])}) {f['part']}{more}"
        out.print(f"    {escape(where)}")
