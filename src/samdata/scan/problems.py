"""Problem detectors run after every scan, over what the catalog knows about present files.

Each detector returns `Problem`s with a kind (a stable name scripts rely on), the paths involved,
the figures behind the finding and a suggested action. Detectors read catalog rows only; none
touches the file system except `missing_input`, which must look for what is not there.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import xxhash

from samdata.config import Config
from samdata.formats import DATA_FORMATS
from samdata.paths import display_path, glob_base, human_size, is_below
from samdata.scan.walk import WalkIssue

# The `error` a file row carries when it kept changing while the scan read it.
CHANGED_WHILE_READ = "changed while being read"
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_JSON_EXTS = (".json", ".jsonl", ".ndjson")
_DATA_CONTAINERS = ("json", "jsonl")
_NAMED_AS_JSON_OK = frozenset({*_DATA_CONTAINERS, "empty", None})


@dataclass
class Problem:
    """One finding: what kind, where, how big, and what to do about it."""

    kind: str
    severity: str
    paths: list[str]
    message: str
    action: str
    root: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parent(path: str) -> str:
    # Catalog paths are absolute and normalised: a plain split is enough, and much faster.
    return path.rpartition("/")[0] or "/"


def detect_problems(
    config: Config,
    files: Sequence[Mapping[str, Any]],
    online: Mapping[str, bool],
    issues: Iterable[WalkIssue] = (),
) -> list[Problem]:
    """Every problem the catalog's present files, the roots and the walk issues show."""
    settings = config.scan
    live = [f for f in files if f["root"] is None or online.get(f["root"], False)]
    regular = [f for f in live if f["kind"] == "file"]
    problems: list[Problem] = []
    problems += _offline_roots(config, files, online)
    problems += _missing_inputs(config, online)
    problems += _links(live)
    issues = list(issues)
    problems += _read_issues([i for i in issues if i.kind != "empty_folder"], regular)
    problems += voice_problems(regular, [i.path for i in issues if i.kind == "empty_folder"])
    problems += _empty_files(regular)
    # Copies are listed internal-first (config order of roots): the first one is the one to keep.
    rank = {r.name: i for i, r in enumerate(config.roots)}

    def keep_first(path: str) -> tuple[int, str]:
        return rank.get(_root_name(config, path) or "", len(rank)), path

    trees, covered = _duplicate_trees(live, keep_first)
    problems += trees
    problems += _duplicate_files(regular, covered, keep_first)
    problems += _fragmented(regular, settings.fragment_min_files, settings.fragment_max_bytes)
    problems += _malformed(regular)
    problems += _high_duplicate_rate(
        regular, settings.duplicate_rate_min_records, settings.duplicate_rate_threshold
    )
    problems += _underused_stores(
        regular, settings.underused_store_share, settings.underused_store_min_flat_records
    )
    problems.sort(key=lambda p: (SEVERITY_ORDER[p.severity], p.kind, p.paths))
    return problems


def _offline_roots(
    config: Config, files: Sequence[Mapping[str, Any]], online: Mapping[str, bool]
) -> list[Problem]:
    out = []
    for r in config.roots:
        if online.get(r.name, False):
            continue
        known = [f for f in files if f["root"] == r.name]
        out.append(
            Problem(
                "offline_root",
                "warning",
                [str(r.path)],
                f"root {r.name!r} is not mounted at {r.path}; {len(known)} files from earlier scans are kept as last seen",
                f"plug in or mount {r.name!r} and scan again; nothing was marked deleted",
                root=r.name,
                figures={"known_files": len(known), "known_bytes": sum(f["size"] or 0 for f in known)},
            )
        )
    return out


def _root_name(config: Config, path: str) -> str | None:
    root = config.root_for(path)
    return root.name if root else None


def _missing_inputs(config: Config, online: Mapping[str, bool]) -> list[Problem]:
    out = []
    for e in config.expects:
        path = str(e.path)
        root = _root_name(config, path)
        if root is not None and not online.get(root, False):
            continue  # its drive is offline: reported as offline_root, not as missing
        if os.path.lexists(path):
            continue
        out.append(
            Problem(
                "missing_input",
                "error",
                [path],
                f"{e.reader} expects {path}, which does not exist: it would train on 0 samples",
                "create the file (e.g. with `samdata export`) or point the reader at the right path",
                root=root,
                figures={"reader": e.reader},
            )
        )
    for s in config.sources:
        if not s.active:
            continue
        fixed = glob_base(s.path)
        root = _root_name(config, fixed)
        if root is not None and not online.get(root, False):
            continue
        if next(glob.iglob(s.path, recursive=True, include_hidden=True), None) is None:
            out.append(
                Problem(
                    "missing_input",
                    "error",
                    [s.path],
                    f"source {s.name!r} matches no file ({s.path}): whatever reads it finds 0 samples",
                    "fix the source's path in samdata.toml, or mark it `active = false`",
                    root=root,
                    figures={"source": s.name},
                )
            )
    return out


def _links(files: Sequence[Mapping[str, Any]]) -> list[Problem]:
    out = []
    for f in files:
        if f["kind"] != "symlink":
            continue
        d = f["details"]
        status = d.get("status")
        if status != "ok":
            why = {"dangling": "its target does not exist", "loop": "it is part of a symlink loop"}.get(
                status, f"it cannot be followed ({d.get('reason')})"
            )
            out.append(
                Problem(
                    "broken_link",
                    "error",
                    [f["path"]],
                    f"symlink {f['path']} → {f['link_target']}: {why}",
                    "remove the link or point it at the file's real location",
                    root=f["root"],
                    figures={"target": f["link_target"], "status": status},
                )
            )
            continue
        reasons = []
        if d.get("via_link"):
            reasons.append("its target is reached through another link")
        if d.get("other_root"):
            reasons.append(
                f"its target lies on another root ({d.get('target_root')}), which may be unplugged"
            )
        if d.get("ancestor_loop"):
            reasons.append("it points at its own ancestor folder, a loop for any tool that follows links")
        if reasons:
            out.append(
                Problem(
                    "fragile_link",
                    "warning",
                    [f["path"], d.get("resolved", f["link_target"])],
                    f"symlink {f['path']} → {f['link_target']}: " + "; ".join(reasons),
                    "link straight to the final target on the same drive, or configure the target as a source",
                    root=f["root"],
                    figures={"target": f["link_target"], "resolved": d.get("resolved"), "reasons": reasons},
                )
            )
    return out


def _read_issues(issues: Iterable[WalkIssue], files: Sequence[Mapping[str, Any]]) -> list[Problem]:
    out = []
    actions = {
        "unreadable": "fix the permissions (or exclude the path) and scan again",
        "changed_during_scan": "scan again when nothing is writing to it",
    }
    for i in issues:
        shown = display_path(i.path)[0]
        out.append(
            Problem(
                i.kind,
                "error" if i.kind == "unreadable" else "warning",
                [shown],
                f"{shown}: {i.reason}",
                actions[i.kind],
            )
        )
    for f in files:
        err = f.get("error")
        if err:
            kind = "changed_during_scan" if err == CHANGED_WHILE_READ else "unreadable"
            out.append(
                Problem(
                    kind,
                    "error" if kind == "unreadable" else "warning",
                    [f["path"]],
                    f"{f['path']}: {err}",
                    actions[kind],
                    root=f["root"],
                )
            )
        if f.get("path_bytes") is not None:
            out.append(
                Problem(
                    "undecodable_name",
                    "warning",
                    [f["path"]],
                    f"{f['path']}: the file name is not valid UTF-8",
                    "rename the file to a UTF-8 name; many tools cannot open it",
                    root=f["root"],
                )
            )
        if f.get("container") not in _NAMED_AS_JSON_OK and f["path"].lower().endswith(_JSON_EXTS):
            ext = f["path"].rpartition(".")[2].lower()
            out.append(
                Problem(
                    "misnamed_file",
                    "warning",
                    [f["path"]],
                    f"{f['path']} is named .{ext} but holds {f.get('container')} content ({f.get('format')})",
                    "rename it after what it holds, or restore the real file from a backup",
                    root=f["root"],
                    figures={"container": f.get("container"), "format": f.get("format")},
                )
            )
        if f["details"].get("probe_error"):
            out.append(
                Problem(
                    "damaged_file",
                    "warning",
                    [f["path"]],
                    f"{f['path']}: {f['format']} header cannot be read: {f['details']['probe_error']}",
                    "restore it from a copy or remove it",
                    root=f["root"],
                )
            )
    return out


def _empty_files(files: Sequence[Mapping[str, Any]]) -> list[Problem]:
    out = []
    for f in files:
        empty = f["size"] == 0 or (f.get("variant") == "no_records" and not f["bad_records"])
        # .gitkeep and friends are empty on purpose.
        if empty and not f.get("error") and not f["path"].rpartition("/")[2].startswith("."):
            out.append(
                Problem(
                    "empty_file",
                    "warning",
                    [f["path"]],
                    f"{f['path']} is empty ({f['size']} bytes, no records)",
                    "delete it, or find out why its writer produced nothing",
                    root=f["root"],
                    figures={"size": f["size"]},
                )
            )
    return out


def _tree_hashes(files: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, int, int]]:
    """Folder → (hash of its whole content, file count, bytes), bottom-up from the files."""
    children: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    count: dict[str, int] = defaultdict(int)
    nbytes: dict[str, int] = defaultdict(int)
    folders: set[str] = set()
    for f in files:
        path = f["path"]
        parent, _, name = path.rpartition("/")
        parent = parent or "/"
        if f["kind"] == "symlink":
            children[parent].append(("L", name, str(f["link_target"])))
        else:
            ok = f.get("content_hash") and not f.get("error")
            # An unreadable file is keyed by its path so that its folder equals no other.
            children[parent].append(("F", name, f["content_hash"]) if ok else ("E", name, path))
            count[parent] += 1
            nbytes[parent] += f["size"] or 0
        # Climb to the root folder (or stay in the file's own folder outside roots); a folder
        # already seen has had its ancestors added too.
        top = path[: -len(f["relpath"])].rstrip("/") if f["root"] else parent
        d = parent
        while d not in folders:
            folders.add(d)
            if len(d) <= len(top) or d == "/":
                break
            d = _parent(d)
    subdirs: dict[str, list[str]] = defaultdict(list)
    for d in folders:
        p = _parent(d)
        if p in folders and p != d:
            subdirs[p].append(d)
    stats: dict[str, tuple[str, int, int]] = {}
    for d in sorted(folders, key=lambda x: x.count("/"), reverse=True):
        entries = children.get(d, [])
        c, b = count[d], nbytes[d]
        for sub in subdirs.get(d, ()):
            h, sc, sb = stats[sub]
            entries.append(("D", sub.rpartition("/")[2], h))
            c += sc
            b += sb
        entries.sort()
        stats[d] = (xxhash.xxh3_128_hexdigest(orjson.dumps(entries)), c, b)
    return stats


def _duplicate_trees(
    files: Sequence[Mapping[str, Any]], order: Callable[[str], Any]
) -> tuple[list[Problem], list[str]]:
    stats = _tree_hashes(files)
    groups: dict[str, list[str]] = defaultdict(list)
    for d, (h, count, _b) in stats.items():
        if count >= 2:
            groups[h].append(d)
    dup_dirs = {d for members in groups.values() if len(members) > 1 for d in members}
    out, covered = [], []
    for members in groups.values():
        if len(members) < 2:
            continue
        if all(_parent(m) in dup_dirs for m in members):
            continue  # inside a larger duplicated tree, which is reported instead
        members.sort(key=order)
        _h, count, nbytes = stats[members[0]]
        covered += members
        reclaim = nbytes * (len(members) - 1)
        out.append(
            Problem(
                "duplicate_tree",
                "info",
                members,
                f"{len(members)} identical copies of a folder with {count} files ({human_size(nbytes)} each); "
                f"{human_size(reclaim)} reclaimable",
                f"keep one copy (e.g. {members[0]}) and delete or archive the others",
                figures={
                    "copies": len(members),
                    "files": count,
                    "bytes": nbytes,
                    "reclaimable_bytes": reclaim,
                },
            )
        )
    return out, covered


def _duplicate_files(
    files: Sequence[Mapping[str, Any]], covered_dirs: Sequence[str], order: Callable[[str], Any]
) -> list[Problem]:
    by_hash: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for f in files:
        if f["size"] and f.get("content_hash") and not f.get("error"):
            by_hash[(f["content_hash"], f["size"])].append(f)
    out = []
    for (_h, size), group in by_hash.items():
        if len(group) < 2:
            continue
        inside = [f for f in group if any(is_below(f["path"], d) for d in covered_dirs)]
        outside = [f for f in group if f not in inside]
        if not outside:
            continue
        paths = [min((f["path"] for f in inside), key=order)] if inside else []
        paths += sorted((f["path"] for f in outside), key=order)
        reclaim = size * (len(outside) if inside else len(outside) - 1)
        out.append(
            Problem(
                "duplicate_file",
                "info",
                paths,
                f"{len(paths)} identical copies of a {human_size(size)} file; {human_size(reclaim)} reclaimable",
                f"keep {paths[0]} and delete the other copies (or replace them with links)",
                figures={"copies": len(paths), "bytes": size, "reclaimable_bytes": reclaim},
            )
        )
    return out


def _fragmented(files: Sequence[Mapping[str, Any]], min_files: int, max_bytes: int) -> list[Problem]:
    """A folder of many tiny data files, whatever their mix of formats (the seed's feedback folder held
    9 DPO, 9 instruction and 1 correction file)."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for f in files:
        if f.get("format") in DATA_FORMATS and (f["size"] or 0) <= max_bytes and f["size"]:
            groups[_parent(f["path"])].append(f)
    out = []
    for folder, group in sorted(groups.items()):
        if len(group) < min_files:
            continue
        nbytes = sum(f["size"] for f in group)
        records = sum(f["records"] or 0 for f in group)
        formats = Counter(f["format"] for f in group)
        mix = ", ".join(f"{n} {fmt}" for fmt, n in sorted(formats.items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(
            Problem(
                "fragmented",
                "info",
                [folder],
                f"{folder} holds {len(group)} tiny data files ({mix}; {human_size(nbytes)} in all, {records} records)",
                "merge them into one JSONL per format (ingest reads them all; export writes one file)",
                root=group[0]["root"],
                figures={
                    "files": len(group),
                    "bytes": nbytes,
                    "records": records,
                    "format": formats.most_common(1)[0][0],
                    "formats": dict(sorted(formats.items())),
                },
            )
        )
    return out


def _malformed(files: Sequence[Mapping[str, Any]]) -> list[Problem]:
    out = []
    for f in files:
        if not f["bad_records"] or f.get("container") not in _DATA_CONTAINERS:
            continue
        samples = f["details"].get("bad_samples", [])
        where = ", ".join((f"line {s['line']}" if "line" in s else f"item {s.get('item')}") for s in samples)
        first = samples[0]["reason"] if samples else ""
        out.append(
            Problem(
                "malformed_records",
                "warning",
                [f["path"]],
                f"{f['bad_records']} of {f['bad_records'] + (f['records'] or 0)} records in {f['path']} do not parse"
                f" (at {where}; first: {first})",
                "ingest quarantines them; fix or drop those lines at the source",
                root=f["root"],
                figures={"bad_records": f["bad_records"], "records": f["records"], "first": samples},
            )
        )
    return out


def _high_duplicate_rate(
    files: Sequence[Mapping[str, Any]], min_records: int, threshold: float
) -> list[Problem]:
    out = []
    for f in files:
        rate = f["details"].get("duplicate_rate")
        if (
            f.get("container") != "jsonl"
            or rate is None
            or (f["records"] or 0) < min_records
            or rate < threshold
        ):
            continue
        distinct = f["details"].get("distinct_estimate")
        out.append(
            Problem(
                "high_duplicate_rate",
                "warning",
                [f["path"]],
                f"{f['path']}: about {rate:.0%} of its {f['records']} records repeat an earlier one "
                f"(~{distinct} distinct)",
                "ingest stores each distinct record once; after that this file can be archived",
                root=f["root"],
                figures={"records": f["records"], "duplicate_rate": rate, "distinct_estimate": distinct},
            )
        )
    return out


def _underused_stores(files: Sequence[Mapping[str, Any]], share: float, min_flat: int) -> list[Problem]:
    out = []
    for store in files:
        if store.get("format") != "sqlite" or not any(
            t.get("training") for t in store["details"].get("tables", {}).values()
        ):
            continue
        folder = _parent(store["path"])
        flat = [
            f
            for f in files
            if f is not store and f.get("format") in DATA_FORMATS and is_below(f["path"], folder)
        ]
        flat_records = sum(f["records"] or 0 for f in flat)
        rows = store["details"].get("training_rows", 0)
        if flat_records < min_flat or rows >= share * flat_records:
            continue
        out.append(
            Problem(
                "underused_store",
                "warning",
                [store["path"], *sorted(f["path"] for f in flat)],
                f"{store['path']} holds {rows} training rows, {rows / flat_records:.1%} of the {flat_records} "
                f"records in the {len(flat)} flat files beside it",
                "ingest both into the catalog, then retire the store or make it the single writer",
                root=store["root"],
                figures={
                    "store_rows": rows,
                    "flat_records": flat_records,
                    "flat_files": len(flat),
                    "share": round(rows / flat_records, 4),
                },
            )
        )
    return out


# -- voice sets ------------------------------------------------------------------------------

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".opus", ".mp4", ".mov", ".mkv", ".webm")
# Names people give non-speech vocal sounds: kept out of a speech set (they teach a voice model to moan).
_NON_SPEECH = re.compile(r"laugh|giggle|breath|sigh|moan|groan|cough|sneeze|yawn|scream|grunt|cry|gasp", re.I)
_STAGING = re.compile(r"stag|unverified|to[_ -]?review|todo|raw", re.I)


def voice_sets(files: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Folders of recordings (audio or video files), each with its files."""
    sets: dict[str, list[Mapping[str, Any]]] = {}
    for f in files:
        if f["path"].lower().endswith(AUDIO_SUFFIXES):
            sets.setdefault(_parent(f["path"]), []).append(f)
    return sets


def voice_problems(files: Sequence[Mapping[str, Any]], empty_folders: Sequence[str]) -> list[Problem]:
    """A voice pipeline done by hand: a stage folder left empty beside folders of recordings, a
    staging set nobody verified, non-speech sounds mixed into a speech set."""
    sets = voice_sets(files)
    out = []
    with_audio_parents = {_parent(folder) for folder in sets}
    for folder in empty_folders:
        if _parent(folder) in with_audio_parents:
            siblings = sorted(d for d in sets if _parent(d) == _parent(folder))
            out.append(
                Problem(
                    "voice_stage_empty", "warning", [folder],
                    f"{folder}: an empty stage folder beside {len(siblings)} folder(s) of recordings"
                    " (a step that did not finish?)",
                    "run the step that fills it again, or remove the folder; `samdata voice run` cuts and"
                    " checks clips from the recordings themselves",
                )
            )  # fmt: skip
    for folder, members in sorted(sets.items()):
        name = folder.rpartition("/")[2]
        if _STAGING.search(name):
            out.append(
                Problem(
                    "voice_unverified", "info", [folder],
                    f"{folder}: a staging set of {len(members)} recording(s), not verified",
                    "add it to [[voice.sources]] and run `samdata voice run`: every clip gets its checks,"
                    " then review them on the dashboard's voice page",
                )
            )  # fmt: skip
        odd = [f["path"] for f in members if _NON_SPEECH.search(f["path"].rpartition("/")[2])]
        if odd and len(odd) < len(members):
            out.append(
                Problem(
                    "voice_non_speech_mixed", "warning", odd,
                    f"{folder}: {len(odd)} of {len(members)} recordings are named as non-speech sounds"
                    " (laughs, breaths, moans...) in a set of speech",
                    "move them to a folder of their own: a speech model trained on them learns the sounds",
                    figures={"non_speech": len(odd), "recordings": len(members)},
                )
            )  # fmt: skip
    return out
