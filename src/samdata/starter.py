"""`samdata init`: a commented starter `samdata.toml` built from what is found in the usual places.

It proposes as roots and sources only folders that hold training data (Claude Code transcripts,
ChatGPT export folders and zips, folders of JSONL files), never the whole home folder: an unedited
first scan then reads those folders, not every file a person owns. The walk is bounded (depth and
entries), skips hidden and system folders, and reads no file content beyond a zip's member names.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from samdata.config import ConfigError, parse_config
from samdata.paths import write_text_atomic

# Where people keep exports and datasets; the walk looks no deeper than MAX_DEPTH below each.
PLACES = ("Downloads", "Documents", "Desktop", "data", "datasets", "sam", "code", "projects", "work")
MAX_DEPTH = 3
MAX_ENTRIES = 20_000
_SKIP = {"Library", "Applications", "node_modules", ".venv", "venv", "__pycache__", ".git", "site-packages",
         "Pictures", "Music", "Movies", "Photos Library.photoslibrary"}  # fmt: skip
_DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson")


@dataclass
class Found:
    """What the walk found: Claude Code's projects folder, ChatGPT exports, folders of JSONL."""

    claude_projects: Path | None = None
    chatgpt_exports: list[Path] = field(default_factory=list)  # folders holding conversations.json, or zips
    jsonl_folders: list[tuple[Path, int]] = field(default_factory=list)  # (folder, data files in it)
    drives: list[Path] = field(default_factory=list)


def _is_chatgpt_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.rsplit("/", 1)[-1] == "conversations.json" for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def discover(home: Path, volumes: Path = Path("/Volumes")) -> Found:
    """Look in the usual places below `home` (and for mounted drives) for training data."""
    found = Found()
    claude = home / ".claude" / "projects"
    if claude.is_dir():
        found.claude_projects = claude
    budget = MAX_ENTRIES
    for place in PLACES:
        top = home / place
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top):
            depth = len(Path(folder).relative_to(top).parts)
            dirs[:] = (
                []
                if depth >= MAX_DEPTH
                else sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP)
            )
            budget -= len(files) + len(dirs)
            if budget < 0:
                break
            if "conversations.json" in files:
                found.chatgpt_exports.append(Path(folder))
                dirs[:] = []
                continue
            found.chatgpt_exports += [
                Path(folder, f)
                for f in sorted(files)
                if f.endswith(".zip") and _is_chatgpt_zip(Path(folder, f))
            ]
            data = [f for f in files if f.endswith(_DATA_SUFFIXES)]
            if data:
                found.jsonl_folders.append((Path(folder), len(data)))
    if volumes.is_dir():
        found.drives = sorted(p for p in volumes.iterdir() if p.is_dir() and p.name != "Macintosh HD")
    return found


def _q(path: Path | str) -> str:
    """A TOML basic string."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(path: Path, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() else "-" for c in path.name.lower()).strip("-") or "data"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def starter_config(home: Path, found: Found) -> str:
    """The starter text: found places active, everything else a commented example."""
    out = [
        "# samdata.toml: where your training data lives and who reads it.",
        "# Relative paths are resolved against the folder that holds this file.",
        "# `samdata init` proposed the roots and sources below from what it found; edit freely.",
        "",
        "# The catalog (one SQLite file). Default: .samdata/catalog.db beside this file.",
        '# catalog = ".samdata/catalog.db"',
        "",
        "# Storage roots: folders (and drives) `samdata scan` walks. A drive that is not plugged in",
        "# is reported offline; its files stay in the catalog, not deleted.",
    ]
    roots: list[Path] = []
    for folder, _n in found.jsonl_folders:
        if not any(folder == r or r in folder.parents for r in roots):
            roots.append(folder)
    roots += [p for p in found.chatgpt_exports if p.is_dir()]
    if found.claude_projects:
        roots.append(found.claude_projects)
    taken: set[str] = set()
    for r in roots:
        out += ["[[roots]]", f"name = {_q(_name(r, taken))}", f"path = {_q(r)}", ""]
    if not roots:
        out += ["# Nothing was found in the usual places: name your data folders here.", "# [[roots]]",
                '# name = "Internal"', f"# path = {_q(home / 'sam' / 'training')}", ""]  # fmt: skip
    for d in found.drives:
        out += ["# [[roots]]", f"# name = {_q(d.name)}", f"# path = {_q(d)}", ""]
    if not found.drives:
        out += ["# [[roots]]", '# name = "David External"', '# path = "/Volumes/David External"', ""]
    out += ["# Named sources: a glob (** crosses folders) and a format (\"auto\" sniffs the content).",
            "# Recipes name sources; `samdata stats` counts per source."]  # fmt: skip
    sources: set[str] = set()
    if found.claude_projects:
        out += ["[[sources]]", 'name = "claude-code"', f"path = {_q(found.claude_projects / '**' / '*.jsonl')}",
                'format = "claude_code"',
                "# Claude Code deletes transcripts after cleanupPeriodDays (30 by default): ingest often.", ""]  # fmt: skip
        sources.add("claude-code")
    for p in found.chatgpt_exports:
        name = _name(Path("chatgpt-" + (p.stem if p.is_file() else p.name)), sources)
        out += ["[[sources]]", f"name = {_q(name)}", f"path = {_q(p)}", 'format = "chatgpt_export"', ""]
    for folder, n in found.jsonl_folders:
        name = _name(folder, sources)
        out += [f"[[sources]]  # {n} data file{'s' if n > 1 else ''}", f"name = {_q(name)}",
                f"path = {_q(folder / '**' / '*.json*')}", 'format = "auto"', ""]  # fmt: skip
    if not sources:
        out += ["# [[sources]]", '# name = "sam-conversations"', f"# path = {_q(home / 'sam' / 'training' / '*.jsonl')}",
                '# format = "auto"', '# license = "private"', ""]  # fmt: skip
    out += [
        "# Documents become plain-text chunks: notes (Markdown, .txt), saved web pages (html), PDFs and",
        "# web archives (warc). samdata reads what is on disk and never crawls; web content needs a license.",
        "# [[sources]]",
        '# name = "notes"',
        f"# path = {_q(home / 'Documents' / 'notes' / '**' / '*.md')}",
        '# format = "markdown"',
        "# [[sources]]",
        '# name = "saved-pages"',
        f"# path = {_q(home / 'Documents' / 'saved pages')}",
        '# format = "auto"',
        '# license = "all-rights-reserved"  # or the site\'s, e.g. "CC-BY-4.0"',
        "",
        "# Files a pipeline reads: if one is missing, `samdata scan` reports `missing_input`.",
        "# [[expects]]",
        f"# path = {_q(home / 'sam' / 'pipeline' / 'training_data.jsonl')}",
        '# reader = "sam_pipeline/train.py"',
        "",
        "[scan]",
        "# A folder with at least fragment_min_files data files, each at most fragment_max_bytes,",
        "# is reported as `fragmented`.",
        "fragment_min_files = 10",
        "fragment_max_bytes = 4096",
        "",
        "[curate]",
        "# Your own names, home paths and host names: redacted wherever they appear.",
        '# literals = ["Your Name", "/Users/you", "your-macbook"]',
        "# Reviewed false positives: hashes from `samdata secrets`.",
        "# allow = []",
        "",
        "# A recipe: what goes into an export (`samdata export NAME --out DIR`).",
        "# [recipes.sam-sft]",
        f"# sources = [{', '.join(_q(s) for s in sorted(sources)) or _q('sam-conversations')}]",
        '# kinds = ["sft"]',
        "# splits = { train = 0.9, valid = 0.05, test = 0.05 }",
        '# format = "mlx"                # or "trl", "sharegpt", "alpaca"',
        "# Added to rows without a system message. Empty (the default): rows keep what they have, and",
        "# Qwen2.5-style chat templates insert their own default system prompt when training.",
        '# system_prompt = "You are SAM, a helpful personal assistant."',
        "# By default an export leaves out what `samdata curate` does not keep (near-duplicates,",
        '# quality flags, wrong language); exclude_quality_flags = ["placeholder"] leaves out only some.',
        "",
    ]
    return "\n".join(out)


def write_starter_config(path: Path, home: Path | None = None, force: bool = False) -> tuple[Path, Found]:
    """Write a commented starter `samdata.toml` from what `discover` finds; refuse to overwrite
    unless `force`. Returns the path and what was found."""
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists (use --force to overwrite)")
    home = home or Path.home()
    found = discover(home)
    text = starter_config(home, found)
    parse_config(text, path)  # the starter must always be valid
    write_text_atomic(path, text)
    return path, found
