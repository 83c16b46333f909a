"""The dashboard's Exports pages: every export, one export's manifest and members, the examples
left out or changed for one reason, and the diff of two exports (`Catalog.export_diff`, the one
`samdata export-diff` prints).

The catalog keeps each export's counts, recipe and members, not why an example was left out or
changed: those are recomputed here by the export's own rule (`samdata.export._entry`, as `samdata
show` explains one example), over the recipe the export recorded, in the order export walks the
candidates so that per-source and per-category caps count as they did. That is exact while the
catalog's data version is the export's; afterwards the page says that it is recomputed on today's
data. The manifest is read from the export's folder only while its sha256 is the one recorded (a
later export to the same folder replaces it).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from samdata.catalog import Catalog
from samdata.config import Config, RecipeConfig
from samdata.export import outcomes
from samdata.serve.api import read_catalog
from samdata.serve.pages import PAGE_SIZE, render

router = APIRouter(include_in_schema=False)
DIFF_CAP = 200  # examples listed per diff list and page
SPLITS = ("train", "valid", "test")
DIFF_LISTS = {"added": "entered", "removed": "left", "moved": "moved"}  # page name → export_diff key
MANIFEST_LIMIT = 32 << 20  # a manifest is kilobytes; never read a huge file into the server


def _int(text: str | None) -> int | None:
    text = (text or "").strip().lstrip("#")
    return int(text) if text.isdigit() and len(text) < 19 else None


def _offset(text: str | None) -> int:
    n = _int(text)
    return n if n is not None else 0


def _missing(request: Request, what: str) -> HTMLResponse:
    return render(request, "exports_missing.html", 404, title="Not found", page="exports", what=what)


def _manifest(export: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The export's manifest.json and its state: 'current' (the recorded one), 'replaced' (the folder
    now holds another export's), 'missing' or 'unreadable'."""
    path = Path(export["out_dir"]) / "manifest.json"
    try:
        with open(path, "rb") as f:
            raw = f.read(MANIFEST_LIMIT + 1)
    except FileNotFoundError:
        return None, "missing"
    except OSError:
        return None, "unreadable"
    if hashlib.sha256(raw).hexdigest() != export["manifest_sha256"]:
        return None, "replaced"
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, "unreadable"
    return (manifest, "current") if isinstance(manifest, dict) else (None, "unreadable")


def _recipe(export: dict[str, Any]) -> RecipeConfig | None:
    try:
        return RecipeConfig.model_validate(export["recipe_json"])
    except ValidationError:
        return None


def _caveats(config: Config, cat: Catalog, export: dict[str, Any]) -> list[str]:
    """Why recomputed reasons may differ from what the export did."""
    inputs = export["inputs"] or {}
    out = []
    now = cat.data_version()
    if inputs.get("data_version") != now:
        was = inputs.get("data_version", "not recorded")
        out.append(
            f"The catalog changed since this export (data version {was}, now {now}): reasons are"
            " recomputed on the catalog as it is now, among the examples that were (or were not) in the export."
        )
    if inputs.get("tokenizer") not in (None, config.curate.tokenizer):
        out.append(
            f"The export counted tokens with {inputs['tokenizer']}; the config now says {config.curate.tokenizer}."
        )
    return out


def _reason_members(
    config: Config,
    cat: Catalog,
    export: dict[str, Any],
    recipe: RecipeConfig,
    kind: str,
    reason: str,
    offset: int,
) -> tuple[list[dict[str, Any]], bool, int | None]:
    """A page of the examples export left out (`kind` 'dropped') or changed ('changed') for `reason`:
    (rows, whether more follow, the total when the walk reached the end)."""
    found: list[dict[str, Any]] = []
    matched = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal matched
        splits = cat.export_member_splits(export["id"], [r["id"] for r in batch])
        for r in batch:
            member = r["id"] in splits
            if member != (kind == "changed"):
                continue  # the catalog changed since: only what the export really left out / wrote
            if offset <= matched < offset + PAGE_SIZE + 1:
                found.append({**r, "split": splits.get(r["id"])})
            matched += 1
        batch.clear()

    for row, dropped, changed in outcomes(config, cat, recipe):
        hit = dropped == reason if kind == "dropped" else (dropped is None and reason in changed)
        if hit:
            batch.append({"id": row["id"], "kind": row["kind"], "sources": ", ".join(row["sources"])})
            if len(batch) == 200:
                flush()
                if len(found) > PAGE_SIZE:
                    return found[:PAGE_SIZE], True, None
    flush()
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE, matched


@router.get("/exports", response_class=HTMLResponse)
def exports(request: Request) -> HTMLResponse:
    with read_catalog(request) as cat:
        rows = cat.exports_list()
    latest = rows[0] if rows else None
    pick_b = latest["id"] if latest else None
    pick_a = (latest["previous"] or (rows[1]["id"] if len(rows) > 1 else latest["id"])) if latest else None
    return render(request, "exports.html", title="Exports", page="exports", exports=rows, splits=SPLITS,
                   pick_a=pick_a, pick_b=pick_b)  # fmt: skip


@router.get("/exports/diff", response_class=HTMLResponse)
def diff(
    request: Request,
    a: str = "",
    b: str = "",
    which: Annotated[str, Query(alias="list")] = "",
    offset: str = "",
) -> HTMLResponse:
    ia, ib = _int(a), _int(b)
    if ia is None or ib is None:
        return render(request, "exports_missing.html", 400, title="Bad request", page="exports",
                       what=None, message="Pick two exports to compare: /exports/diff?a=ID&b=ID.")  # fmt: skip
    only = which if which in DIFF_LISTS else None
    at = _offset(offset) if only else 0
    with read_catalog(request) as cat:
        ea, eb = cat.export_row(ia), cat.export_row(ib)
        if ea is None or eb is None:
            return _missing(request, f"#{ia if ea is None else ib}")
        result = cat.export_diff(ia, ib)
    lists = {}
    for name, key in DIFF_LISTS.items():
        if only and name != only:
            continue
        items = result[key]
        by_split = Counter(i["to"] if key == "moved" else i["split"] for i in items)
        lists[name] = {"total": len(items), "rows": items[at : at + DIFF_CAP], "by_split": dict(by_split)}

    def page_link(name: str | None, to: int = 0) -> str:
        params: dict[str, Any] = {"a": ia, "b": ib}
        if name:
            params |= {"list": name, "offset": max(0, to)}
        return "/exports/diff?" + urlencode(params)

    summary = {name: len(result[key]) for name, key in DIFF_LISTS.items()}
    return render(request, "exports_diff.html", title=f"Export #{ia} → #{ib}", page="exports", a=ea, b=eb,
                   lists=lists, summary=summary, unchanged=result["unchanged"], only=only, offset=at,
                   cap=DIFF_CAP, page_link=page_link)  # fmt: skip


@router.get("/exports/{export_id}", response_class=HTMLResponse)
def export_detail(request: Request, export_id: str) -> Response:
    number = _int(export_id)
    with read_catalog(request) as cat:
        export = cat.export_row(number) if number is not None else None
        if export is None:
            return _missing(request, export_id)
        sizes = cat.export_split_sizes(export["id"])
        caveats = _caveats(request.app.state.config, cat, export)
        older, newer = cat.export_neighbours(export["id"])
    manifest, state = _manifest(export)

    def reason_link(kind: str, reason: str) -> str:
        return f"/exports/{export['id']}/members?" + urlencode({kind: reason})

    return render(request, "exports_detail.html", title=f"Export #{export['id']}", page="exports", x=export,
                   manifest=manifest, state=state, sizes=sizes, splits=SPLITS, caveats=caveats,
                   reason_link=reason_link, newer=newer, older=older)  # fmt: skip


@router.get("/exports/{export_id}/members", response_class=HTMLResponse)
def export_members(
    request: Request, export_id: str, split: str = "", dropped: str = "", changed: str = "", offset: str = ""
) -> Response:
    number = _int(export_id)
    at = _offset(offset)
    config = request.app.state.config
    kind, reason = ("dropped", dropped) if dropped else ("changed", changed) if changed else (None, "")
    with read_catalog(request) as cat:
        export = cat.export_row(number) if number is not None else None
        if export is None:
            return _missing(request, export_id)
        if kind is None:
            split = split if split in SPLITS else "train"
            total = cat.export_split_sizes(export["id"]).get(split, 0)
            rows = cat.export_members_page(export["id"], split, PAGE_SIZE, at)
            more = at + PAGE_SIZE < total
            caveats: list[str] = []
            recomputable = True
        else:
            recipe = _recipe(export)
            recomputable = recipe is not None
            caveats = _caveats(config, cat, export)
            rows, more, total = (
                _reason_members(config, cat, export, recipe, kind, reason, at) if recipe else ([], False, 0)
            )
    manifest, _ = _manifest(export)
    stated = (manifest or {}).get(kind or "", {}).get(reason) if kind else None

    def page_link(to: int) -> str:
        params = {kind: reason} if kind else {"split": split}
        return f"/exports/{export['id']}/members?" + urlencode({**params, "offset": max(0, to)})

    return render(request, "exports_members.html", title=f"Export #{export['id']} members", page="exports",
                   x=export, kind=kind, reason=reason, split=split, rows=rows, total=total, stated=stated,
                   more=more, offset=at, limit=PAGE_SIZE, page_link=page_link, caveats=caveats,
                   recomputable=recomputable, splits=SPLITS)  # fmt: skip
