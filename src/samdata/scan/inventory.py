"""The inventory of the latest scan as JSON (stable schema), Markdown and a self-contained HTML page."""

from __future__ import annotations

import html
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.paths import glob_match, human_size
from samdata.scan.problems import SEVERITY_ORDER, voice_sets

SCHEMA = "samdata.inventory/1"


class NoScanError(Exception):
    """There is no finished scan to report on."""


def _modified(mtime_ns: int | None) -> str | None:
    if mtime_ns is None:
        return None
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).isoformat(timespec="seconds")


def readers_of(config: Config, path: str) -> list[str]:
    """Configured sources whose glob matches `path`, then `expects` readers of exactly `path`."""
    out = [f"source:{s.name}" for s in config.sources if glob_match(s.path, path)]
    out += [e.reader for e in config.expects if os.path.normpath(str(e.path)) == path]
    return out


def format_summary(files: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Files, bytes and records per format, largest first (symlinks and deleted files excluded)."""
    formats: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "bytes": 0, "records": 0})
    for f in files:
        if f["kind"] == "file":
            agg = formats[f["format"] or "unknown"]
            agg["files"] += 1
            agg["bytes"] += f["size"] or 0
            agg["records"] += f["records"] or 0
    return [{"format": k, **v} for k, v in sorted(formats.items(), key=lambda kv: (-kv[1]["bytes"], kv[0]))]


def build_inventory(catalog: Catalog, config: Config) -> dict[str, Any]:
    """The latest scan as a JSON-ready dict: `roots`, `files`, `formats`, `problems`."""
    scan = catalog.latest_scan()
    if scan is None:
        raise NoScanError("no finished scan in the catalog: run `samdata scan` first")
    configured = {r.name: str(r.path) for r in config.roots}
    root_rows = {r["name"]: r for r in catalog.roots()}
    files = []
    for f in sorted(catalog.files(), key=lambda f: (f["root"] or "", f["relpath"])):
        if f["root"] is not None and f["root"] not in configured:
            continue  # a root removed from the config is no longer part of the inventory
        files.append(
            {
                "path": f["path"],
                "root": f["root"],
                "relpath": f["relpath"],
                "kind": f["kind"],
                "size": f["size"],
                "modified": _modified(f["mtime_ns"]),
                "content_hash": f["content_hash"],
                "format": f["format"],
                "variant": f["variant"],
                "records": f["records"],
                "bad_records": f["bad_records"],
                "link_target": f["link_target"],
                "error": f["error"],
                "read_by": readers_of(config, f["path"]),
                "details": f["details"],
            }
        )
    roots = []
    for name, path in configured.items():
        mine = [f for f in files if f["root"] == name]
        row = root_rows.get(name, {})
        roots.append(
            {
                "name": name,
                "path": path,
                "online": bool(row.get("online", False)),
                "last_online_at": row.get("last_online_at"),
                "files": len(mine),
                "bytes": sum(f["size"] or 0 for f in mine if f["kind"] == "file"),
                "records": sum(f["records"] or 0 for f in mine),
            }
        )
    outside = [f for f in files if f["root"] is None]
    if outside:
        roots.append(
            {
                "name": None,
                "path": None,
                "online": True,
                "last_online_at": None,
                "files": len(outside),
                "bytes": sum(f["size"] or 0 for f in outside if f["kind"] == "file"),
                "records": sum(f["records"] or 0 for f in outside),
            }
        )
    voice = []
    for folder, members in sorted(voice_sets(files).items()):
        details = [f["details"] or {} for f in members]
        voice.append(
            {
                "folder": folder,
                "root": members[0]["root"],
                "recordings": len(members),
                "minutes": round(sum(d.get("duration_s") or 0 for d in details) / 60, 2),
                "measured": sum(1 for d in details if d.get("duration_s") is not None),
                "sample_rates": sorted({d["sample_rate"] for d in details if d.get("sample_rate")}),
                "read_by": [
                    f"voice:{s.name}"
                    for s in config.voice.sources
                    if any(glob_match(s.path, f["path"]) for f in members)
                ],
            }
        )
    problems = catalog.problems(scan["id"])
    for p in problems:
        p.pop("id", None)
        p.pop("scan_id", None)
    return {
        "schema": SCHEMA,
        "scan": {
            "id": scan["id"],
            "started_at": scan["started_at"],
            "finished_at": scan["finished_at"],
            "files_seen": scan["files_seen"],
            "files_read": scan["files_read"],
            "config": scan["config_path"],
        },
        "roots": roots,
        "files": files,
        "formats": format_summary(files),
        "voice_sets": voice,
        "problems": problems,
    }


# -- Markdown ---------------------------------------------------------------------------------


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|#])")
# GitHub Markdown ignores `_` inside words (snake_case), so only escape it at word edges.
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: Any) -> str:
    """Escape a value for Markdown text or a table cell (names may hold any character)."""
    s = _MD_SPECIAL.sub(r"\\\1", str(text).replace("\n", " "))
    return _MD_UNDERSCORE.sub(r"\\_", s)


def _records(f: dict[str, Any]) -> str:
    if f["kind"] == "symlink":
        return "–"
    details = f["details"]
    if f["format"] in ("wav", "mp4") and "duration_s" in details:
        return f"{details['duration_s']:.1f} s"
    if f["records"] is None:
        return "–"
    text = f"{f['records']:,}"
    if f["bad_records"]:
        text += f" (+{f['bad_records']:,} bad)"
    if f["format"] == "sqlite" and details.get("tables"):
        text += " rows (" + ", ".join(f"{t} {v['rows']:,}" for t, v in details["tables"].items()) + ")"
    return text


def _format_cell(f: dict[str, Any]) -> str:
    if f["kind"] == "symlink":
        return f"link → {f['link_target']}"
    fmt = f["format"] or "unknown"
    if f["variant"] and f["variant"] not in (fmt, "no_records"):
        fmt += f" ({f['variant']})"
    return fmt


def _table_rows(inv: dict[str, Any], root: str | None) -> list[tuple[str, ...]]:
    """Plain-text cells (File, Size, Records, Format, Last updated, Read by) of one root's table.

    The files of a `fragmented` folder fold into one row, as a person would write it.
    """
    fragments = {p["paths"][0]: p["figures"] for p in inv["problems"] if p["kind"] == "fragmented"}
    mine = [f for f in inv["files"] if f["root"] == root]
    folds: dict[str, list[dict[str, Any]]] = {}
    for f in mine:
        folder = os.path.dirname(f["path"])
        if f["kind"] == "file" and f["format"] == fragments.get(folder, {}).get("format"):
            folds.setdefault(folder, []).append(f)
    rows, emitted = [], set()
    for f in mine:
        folder = os.path.dirname(f["path"])
        if f in folds.get(folder, ()):
            if folder in emitted:
                continue
            emitted.add(folder)
            group, fig = folds[folder], fragments[folder]
            readers = sorted({r for g in group for r in g["read_by"]})
            rows.append(
                (
                    f"{os.path.dirname(f['relpath'])}/ ({fig['files']} files)",
                    human_size(fig["bytes"]),
                    f"{fig['records']:,}",
                    fig["format"],
                    max(g["modified"] or "" for g in group)[:10],
                    ", ".join(readers) or "–",
                )
            )
            continue
        rows.append(
            (
                f["relpath"],
                human_size(f["size"]) if f["kind"] == "file" else "–",
                _records(f),
                _format_cell(f),
                (f["modified"] or "")[:10],
                ", ".join(f["read_by"]) or "–",
            )
        )
    return rows


_COLUMNS = ("File", "Size", "Records", "Format", "Last updated", "Read by")
_NUMERIC = (False, True, True, False, False, False)


def render_markdown(inv: dict[str, Any]) -> str:
    """The inventory as Markdown that reads like a careful hand-written one."""
    scan = inv["scan"]
    total_bytes = sum(r["bytes"] for r in inv["roots"])
    total_records = sum(r["records"] for r in inv["roots"])
    online = sum(1 for r in inv["roots"] if r["online"])
    lines = [
        "# Training data inventory",
        "",
        f"Scan #{scan['id']}, finished {scan['finished_at']} · {len(inv['roots'])} roots ({online} online) · "
        f"{len(inv['files']):,} files · {human_size(total_bytes)} · {total_records:,} records · "
        f"{len(inv['problems'])} known issues",
        "",
    ]
    for root in inv["roots"]:
        title = root["name"] or "Outside configured roots"
        state = "online" if root["online"] else f"**offline** (last seen {root['last_online_at'] or 'never'})"
        lines += [f"## {_md(title)}", ""]
        if root["path"]:
            lines += [f"`{root['path']}` · {state}", ""]
        rows = _table_rows(inv, root["name"])
        if not rows:
            lines += ["No files known." if root["online"] else "No files known from earlier scans.", ""]
            continue
        lines += [
            "| " + " | ".join(_COLUMNS) + " |",
            "|" + "|".join("---:" if n else "---" for n in _NUMERIC) + "|",
        ]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    lines += [
        "",
        f"**Total:** {root['files']:,} files, {human_size(root['bytes'])}, {root['records']:,} records",
        "",
    ]
    lines += ["## Formats", "", "| Format | Files | Size | Records |", "|---|---:|---:|---:|"]
    for fm in inv["formats"]:
        lines.append(
            f"| {_md(fm['format'])} | {fm['files']:,} | {human_size(fm['bytes'])} | {fm['records']:,} |"
        )
    if inv.get("voice_sets"):
        lines += ["", "## Voice sets", "", "| Folder | Recordings | Minutes | Sample rates | Read by |",
                  "|---|---:|---:|---|---|"]  # fmt: skip
        for v in inv["voice_sets"]:
            rates = ", ".join(f"{r:,} Hz" for r in v["sample_rates"]) or "–"
            lines.append(
                f"| {_md(v['folder'])} | {v['recordings']:,} | {v['minutes']:.1f} | {rates} |"
                f" {_md(', '.join(v['read_by'])) or 'nothing'} |"
            )
    lines += ["", "## Known issues", ""]
    if not inv["problems"]:
        lines.append("None found.")
    for i, p in enumerate(sorted(inv["problems"], key=lambda p: SEVERITY_ORDER[p["severity"]]), 1):
        lines.append(f"{i}. **{p['kind']}** ({p['severity']}): {_md(p['message'])}  ")
        lines.append(f"   → {_md(p['action'])}")
    lines.append("")
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 -apple-system,system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.d{white-space:nowrap}
code{background:#f4f4f4;padding:0 .2rem}.sev-error{color:#b00020}.sev-warning{color:#a15c00}.sev-info{color:#555}
.offline{color:#b00020;font-weight:600}li{margin:.4rem 0}
"""


def render_html(inv: dict[str, Any]) -> str:
    """The inventory as one self-contained HTML page (no scripts, no external assets; all text escaped)."""
    e = html.escape
    scan = inv["scan"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>samdata inventory · scan {scan['id']}</title><style>{_CSS}</style></head><body>",
        "<h1>Training data inventory</h1>",
        f"<p>Scan #{scan['id']}, finished {e(str(scan['finished_at']))} · {len(inv['files']):,} files · "
        f"{len(inv['problems'])} known issues</p>",
    ]
    for root in inv["roots"]:
        out.append(f"<h2>{e(root['name'] or 'Outside configured roots')}</h2>")
        if root["path"]:
            state = (
                "online"
                if root["online"]
                else f"<span class='offline'>offline</span> (last seen {e(root['last_online_at'] or 'never')})"
            )
            out.append(f"<p><code>{e(root['path'])}</code> · {state}</p>")
        rows = _table_rows(inv, root["name"])
        if not rows:
            out.append(
                "<p>No files known.</p>" if root["online"] else "<p>No files known from earlier scans.</p>"
            )
            continue
        cls = ["", " class='n'", " class='n'", "", " class='d'", ""]
        out.append(
            "<table><tr>" + "".join(f"<th{c}>{h}</th>" for c, h in zip(cls, _COLUMNS, strict=True)) + "</tr>"
        )
        for row in rows:
            out.append(
                "<tr>" + "".join(f"<td{c}>{e(v)}</td>" for c, v in zip(cls, row, strict=True)) + "</tr>"
            )
        out.append(
            f"<tr><th>Total</th><th class='n'>{e(human_size(root['bytes']))}</th>"
            f"<th class='n'>{root['records']:,}</th><th colspan='3'>{root['files']:,} files</th></tr></table>"
        )
    out.append(
        "<h2>Formats</h2><table><tr><th>Format</th><th class='n'>Files</th><th class='n'>Size</th>"
        "<th class='n'>Records</th></tr>"
    )
    for fm in inv["formats"]:
        out.append(
            f"<tr><td>{e(fm['format'])}</td><td class='n'>{fm['files']:,}</td>"
            f"<td class='n'>{e(human_size(fm['bytes']))}</td><td class='n'>{fm['records']:,}</td></tr>"
        )
    out.append("</table><h2>Known issues</h2>")
    if not inv["problems"]:
        out.append("<p>None found.</p>")
    else:
        out.append("<ol>")
        for p in inv["problems"]:
            out.append(
                f"<li class='sev-{e(p['severity'])}'><b>{e(p['kind'])}</b> ({e(p['severity'])}): {e(p['message'])}"
                f"<br>→ {e(p['action'])}</li>"
            )
        out.append("</ol>")
    out.append("</body></html>")
    return "\n".join(out)


def render(inv: dict[str, Any], fmt: str) -> str:
    """Render `inv` as `json`, `md` or `html`."""
    if fmt == "json":
        import orjson

        return orjson.dumps(inv, option=orjson.OPT_INDENT_2).decode()
    if fmt == "md":
        return render_markdown(inv)
    if fmt == "html":
        return render_html(inv)
    raise ValueError(f"unknown inventory format {fmt!r}: use json, md or html")
