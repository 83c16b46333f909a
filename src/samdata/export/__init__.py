"""`samdata export NAME`: a recipe → train/valid/test files a trainer loads, the same bytes every time.

Selection: the recipe's sources and kinds, live examples only, redacted bodies (an example curate has
not looked at is left out: its secrets are unknown), near-duplicates that are not their cluster's
keeper left out by default, optional quality flags, categories and a token limit. Every example that
is left out is counted with its reason in `manifest.json`. Splits come from `samdata.export.split`.
Review decisions on mined preference pairs apply: a dropped pair is left out ("dropped in review"),
a swapped one is written with chosen and rejected exchanged (counted under `changed`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import xxhash

from samdata import __version__
from samdata.catalog import Catalog, utcnow
from samdata.config import Config, RecipeConfig
from samdata.curate import tokens, verdict
from samdata.export.split import SPLITS, Splitter, conversation_key
from samdata.export.writers import Unwritable, Writer, sidecars, writer_for
from samdata.paths import write_bytes_atomic
from samdata.process import pid_alive

MANIFEST_SCHEMA = "samdata.export/1"
SWAPPED = "chosen and rejected swapped in review"
NO_SYSTEM_NOTE = (
    "rows have no system message: Qwen2.5-style chat templates insert their own default"
    ' ("You are Qwen, created by Alibaba Cloud…") when training; set system_prompt in the recipe'
)


class ExportError(Exception):
    """The recipe cannot be exported (unknown, or a split too small for training)."""


@dataclass
class ExportResult:
    export_id: int
    out_dir: Path
    counts: dict[str, int]
    manifest: dict[str, Any]


def _group(row: dict[str, Any]) -> str:
    cluster = row["neardup"]
    if cluster:
        return f"cluster:{cluster.get('anchor', cluster['keeper_id'])}"
    return conversation_key(row["file_id"], row["locator"])


class _Rules:
    """A recipe's per-row rules, with what is the same for every row worked out once: the quality
    flags it excludes, its split edges, and the source and licence each set of sources gives."""

    def __init__(
        self,
        recipe: RecipeConfig,
        licenses: dict[str, str | None],
        body_json: Callable[[Any], str | bytes | None] | None = None,
    ) -> None:
        self.recipe = recipe
        # Rows with stored bodies (`export_candidates(stored_bodies=True)`): how to read one.
        self.body_json = body_json or (lambda body: body)
        self.licenses = licenses
        self.flags = None if recipe.exclude_quality_flags == "all" else recipe.exclude_quality_flags
        self.split = Splitter(recipe.salt, recipe.splits)
        self.capped = bool(recipe.source_caps or recipe.category_caps)
        self.weighted = bool(recipe.source_weights or recipe.category_weights)
        self.system_note = recipe.format != "alpaca" and recipe.rows == "chat"
        self._picks: dict[tuple[str, ...], tuple[str, str | None]] = {}

    def pick(self, sources: tuple[str, ...]) -> tuple[str, str | None]:
        """The source a row counts under (the first the recipe takes) and the licence it is
        exported under, None when every source the recipe takes is under an excluded licence (a
        text found in several sources is under the licence of any one that the recipe takes)."""
        picked = self._picks.get(sources)
        if picked is None:
            recipe, taken = self.recipe, [s for s in sources if s in self.recipe.sources]
            license = next(
                (
                    lic
                    for s in taken
                    if (lic := self.licenses.get(s) or UNSTATED) not in recipe.exclude_licenses
                ),
                None,
            )
            picked = self._picks[sources] = ((taken or sources)[0], license)
        return picked

    def dropped_reason(self, row: dict[str, Any]) -> str | None:
        """Why the recipe leaves the row out on curate's results alone, or None."""
        recipe = self.recipe
        if not row["curated"]:
            return "not curated (run samdata curate)"
        if recipe.exclude_secrets and row["had_secrets"]:
            return "had secrets (exclude_secrets)"
        reason = verdict.not_kept(
            row["neardup"], row["quality_flags"], row["wrong_language"], dropped=row.get("review") == "drop",
            exclude_near_duplicates=recipe.exclude_near_duplicates, exclude_flags=self.flags,
            exclude_wrong_language=recipe.exclude_wrong_language,
        )  # fmt: skip
        if reason is not None:
            return reason
        if (
            recipe.categories is not None
            and row["kind"] == "sft"
            and row["category"] not in recipe.categories
        ):
            return "category not in recipe"
        return None


UNSTATED = "unstated"  # a source without a licence setting


def licenses_of(config: Config) -> dict[str, str | None]:
    """Each configured source's licence (None where the config states none)."""
    return {s.name: s.license for s in config.sources}


def _copies(weight: float, example_id: str, salt: str) -> int:
    """How many times a weighted example is written: the integer part, plus one more with the
    fractional part's probability, drawn from a stable hash so reruns and growth agree."""
    whole = int(weight)
    point = xxhash.xxh3_64_intdigest(f"{salt}\x00weight\x00{example_id}".encode()) / 2**64
    return whole + (point < weight - whole)


def apply_system(
    body: dict[str, Any], recipe: RecipeConfig, changed: Counter[str]
) -> tuple[bool, str | None]:
    """Apply the recipe's system-prompt policy to the body in place; return (added, replaced text)."""
    turns = body["messages"]
    has = bool(turns) and turns[0]["role"] == "system"
    system = {"role": "system", "content": recipe.system_prompt}
    if recipe.system_policy == "replace":
        changed["system prompt replaced" if has else "system prompt added"] += 1
        body["messages"] = [system, *(turns[1:] if has else turns)]
        return not has, turns[0]["content"] if has else None
    if not has and recipe.system_prompt:
        changed["system prompt added"] += 1
        body["messages"] = [system, *turns]
        return True, None
    return False, None


class _Fitter:
    """max_tokens with the curate tokenizer: counts from curate, corrected for the system prompt the
    export added or replaced; SFT truncation keeps whole turns and ends on an assistant turn."""

    def __init__(self, recipe: RecipeConfig, tokenizer: str) -> None:
        assert recipe.max_tokens is not None
        self.limit = recipe.max_tokens
        self.truncate = recipe.on_long == "truncate"
        self.count = tokens.encoder(tokenizer)
        self.system_tokens = self.count(recipe.system_prompt) + tokens.TEMPLATE_TOKENS_PER_TURN

    def _turn(self, m: dict[str, Any]) -> int:
        calls = orjson.dumps(m["tool_calls"]).decode() if m.get("tool_calls") else ""
        return self.count(m["content"] + calls) + tokens.TEMPLATE_TOKENS_PER_TURN

    def fit(self, body: dict[str, Any], counted: int, added: bool, replaced: str | None) -> str | None:
        """None if the body fits (truncated in place if allowed); else the reason it is left out."""
        total = counted + (self.system_tokens if added or replaced is not None else 0)
        if replaced is not None:
            total -= self.count(replaced) + tokens.TEMPLATE_TOKENS_PER_TURN
        if body["kind"] == "preference":
            sides = [sum(self._turn(m) for m in body[s]) for s in ("chosen", "rejected")]
            total += max(sides) - sides[0]  # curate counted the chosen side
        if total <= self.limit:
            return None
        if not self.truncate or body["kind"] != "sft":
            return f"longer than max_tokens ({self.limit})"
        used, keep = 0, 0
        for i, m in enumerate(body["messages"]):
            used += self._turn(m)
            if used > self.limit:
                break
            if m["role"] == "assistant":
                keep = i + 1
        if keep == 0:
            return f"prompt and first answer longer than max_tokens ({self.limit})"
        body["messages"] = body["messages"][:keep]
        return None


class _SplitFile:
    """One split's file, written to a temp name while hashed; renamed into place by `commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        # 1 MB buffers: an 8 KB one makes a write call every few rows (a third of the writing time).
        self.f = open(self.tmp, "wb", buffering=1 << 20)  # noqa: SIM115 - closed by commit/abort
        self.sha = hashlib.sha256()
        self.rows = 0

    def write(self, line: bytes, copies: int = 1) -> None:
        data = line * copies
        self.f.write(data)
        self.sha.update(data)
        self.rows += copies

    def commit(self) -> str:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)
        return self.sha.hexdigest()

    def abort(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes) -> str:
    """Write atomically; return the sha256 the manifest records."""
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


@dataclass
class _Tally:
    """What the manifest reports, accumulated in bounded memory while rows stream through."""

    dropped: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)  # facts about rows a trainer will act on
    breakdown: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    per_source: Counter[str] = field(default_factory=Counter)
    per_category: Counter[str] = field(default_factory=Counter)
    licenses: dict[str, str | None] = field(default_factory=dict)  # source → the licence it is under
    per_license: Counter[str] = field(default_factory=Counter)  # rows written, by licence
    tokens: dict[str, list[int]] = field(
        default_factory=lambda: {s: [0, 0, 0] for s in SPLITS}
    )  # sum, max, n

    def count_tokens(self, split: str, n: int, copies: int) -> None:
        t = self.tokens[split]
        t[0] += n * copies
        t[1] = max(t[1], n)
        t[2] += copies


class ExportProgress:
    """Hooks a front end implements to show progress; the default shows nothing."""

    def start(self, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def done(self) -> None: ...


def recipe_fields(recipe: RecipeConfig) -> dict[str, Any]:
    """The recipe as manifests record it: what shapes the rows (where `samdata run` writes them and
    what it trains afterwards do not, and would put local paths in the manifest)."""
    return recipe.model_dump(mode="json", exclude={"out", "train"})


def export_inputs(config: Config, catalog: Catalog, name: str) -> dict[str, Any]:
    """All that decides an export's bytes besides its folder: the recipe, the tokenizer that
    counts its tokens, the catalog's data version and this samdata's version (its writers)."""
    recipe = recipe_fields(config.recipes[name])
    return {
        "recipe": hashlib.sha256(orjson.dumps(recipe, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        "tokenizer": config.curate.tokenizer,
        "data_version": catalog.data_version(),
        "samdata": __version__,
    }


def current_export(config: Config, catalog: Catalog, name: str, out_dir: Path) -> int | None:
    """The export in `out_dir` if writing the recipe again would give the same files: same inputs,
    and the folder's manifest is still the one recorded. None: it must be written."""
    last = catalog.last_export_to(str(out_dir))
    if last is None or last["inputs"] != export_inputs(config, catalog, name):
        return None
    manifest = out_dir / "manifest.json"
    try:
        raw = manifest.read_bytes()
        if hashlib.sha256(raw).hexdigest() != last["manifest_sha256"]:
            return None
        # Every file it lists is still there and untouched since (mtimes: hashing them all again
        # would cost a second per GB on every run).
        written = manifest.stat().st_mtime + 1.0
        for file in orjson.loads(raw).get("files", {}):
            if (out_dir / file).stat().st_mtime > written:
                return None
    except (OSError, orjson.JSONDecodeError):
        return None
    return int(last["id"])


def run_export(
    config: Config,
    catalog: Catalog,
    name: str,
    out_dir: Path,
    force: bool = False,
    progress: ExportProgress | None = None,
) -> ExportResult:
    """Write the recipe's files and manifest into `out_dir`; record the export and its members.

    The folder is written beside its destination and renamed into place: an older samdata export
    there is replaced whole (no stale file survives), a folder with files samdata did not write is
    refused unless `force` (then the export's files are written among them). A split with fraction 0,
    or that ends up empty, is not written (mlx-lm and TRL fail on an empty file). Streams: rows go
    straight to temp files and members to a spool file, so memory does not grow with the examples."""
    recipe = config.recipes.get(name)
    if recipe is None:
        known = ", ".join(sorted(config.recipes)) or "none"
        raise ExportError(f"no recipe {name!r} in {config.config_path} (recipes: {known})")
    if recipe.format == "mlx" and recipe.splits.get("valid", 0) <= 0:
        raise ExportError(
            f"recipe {name!r}: mlx-lm trains with a validation set; set splits.valid above 0 (0.05 is usual)"
        )
    foreign = _foreign_files(out_dir)
    if foreign and not force:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ExportError(
            f"{out_dir} holds files samdata did not write ({shown}); export into a new or empty folder,"
            " or pass --force to write the export among them"
        )
    inputs = export_inputs(config, catalog, name)
    write = writer_for(recipe)
    fitter = _Fitter(recipe, config.curate.tokenizer) if recipe.max_tokens else None
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stages(out_dir)
    stage = out_dir.parent / f".{out_dir.name}.samdata-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    splits = [s for s in SPLITS if recipe.splits.get(s, 0) > 0]
    files = {s: _SplitFile(stage / f"{s}.jsonl") for s in splits}
    spool_path = stage.with_name(stage.name + ".members")
    tally = _Tally(licenses=licenses_of(config))
    progress = progress or ExportProgress()
    progress.start(catalog.candidate_count(recipe.sources, recipe.kinds))
    reviewed = catalog.reviewed_preferences()  # example id → swap | drop (few)
    rules = _Rules(recipe, tally.licenses, catalog.bodies.json)
    try:
        with open(spool_path, "wb", buffering=1 << 20) as spool:
            rows = catalog.export_candidates(recipe.sources, recipe.kinds, stored_bodies=True)
            for i, row in enumerate(rows, 1):
                if i % 1000 == 0:
                    progress.advance(1000)
                row["review"] = reviewed.get(row["id"])
                entry = _entry(row, rules, fitter, write, tally)
                if entry is None:
                    continue
                split, line, copies, n_tokens = entry
                files[split].write(line, copies)
                spool.write(b'["%s","%s"]\n' % (row["id"].encode(), split.encode()))
                if n_tokens is not None:
                    tally.count_tokens(split, n_tokens, copies)
        counts = {s: files[s].rows if s in files else 0 for s in SPLITS}
        _check_sizes(name, recipe, counts, tally.dropped)
        written = [s for s in splits if counts[s]]
        shas = {f"{s}.jsonl": files[s].commit() for s in written}
        for fname, data in sidecars(name, recipe, written).items():
            shas[fname] = _write_atomic(stage / fname, data)
        manifest = _manifest(name, recipe, catalog, counts, tally, shas)
        manifest_bytes = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        manifest_sha = _write_atomic(stage / "manifest.json", manifest_bytes)
        _install(stage, out_dir, merge=bool(foreign))
        recipe_json = orjson.dumps(recipe_fields(recipe), option=orjson.OPT_SORT_KEYS).decode()
        with open(spool_path, "rb") as spool:
            members = (b"[" + b",".join(chunk) + b"]" for chunk in _chunks(spool, 50_000))
            export_id = catalog.record_export(
                name, recipe_json, str(out_dir), utcnow(), manifest_sha, counts, members, inputs
            )
    finally:
        progress.done()
        for f in files.values():
            if not f.f.closed:
                f.abort()
        shutil.rmtree(stage, ignore_errors=True)
        spool_path.unlink(missing_ok=True)
    return ExportResult(export_id, out_dir, counts, manifest)


def remove_stale_stages(out_dir: Path) -> None:
    """What an export killed mid-way left beside `out_dir` (its staging folder and member spool,
    named after its pid): removed once that process is gone."""
    for path in out_dir.parent.glob(f".{out_dir.name}.samdata-*"):
        pid = path.name.rsplit("-", 1)[1].split(".", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# What an export folder may hold besides what its manifest lists.
_EXPORT_NAMES = {
    "train.jsonl",
    "valid.jsonl",
    "test.jsonl",
    "manifest.json",
    "dataset_info.json",
    "axolotl.yaml",
}


def _foreign_files(out_dir: Path) -> list[str]:
    """Files in `out_dir` that are not an earlier samdata export's (none for a new or empty folder)."""
    if not out_dir.exists():
        return []
    if not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file, not a folder")
    names = sorted(p.name for p in out_dir.iterdir())
    ours: set[str] = set()
    try:
        manifest = orjson.loads((out_dir / "manifest.json").read_bytes())
        if str(manifest.get("schema", "")).startswith("samdata.export/"):
            ours = _EXPORT_NAMES | set(manifest.get("files", {}))
    except (OSError, orjson.JSONDecodeError, AttributeError):
        pass  # no samdata manifest: every file is someone else's
    return [n for n in names if n not in ours]


def _install(stage: Path, out_dir: Path, merge: bool) -> None:
    """Put the staged export in place: a rename (the old export renamed away first), or with
    `merge` (foreign files present, --force) file by file, removing the old export's stale files."""
    if not merge:
        old = stage.with_name(stage.name + "-old")
        if out_dir.exists():
            os.rename(out_dir, old)
        os.rename(stage, out_dir)
        shutil.rmtree(old, ignore_errors=True)
        return
    new = {p.name for p in stage.iterdir()}
    stale = set(_EXPORT_NAMES) - new
    for name in sorted(stale):
        (out_dir / name).unlink(missing_ok=True)
    for p in stage.iterdir():
        os.replace(p, out_dir / p.name)


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line.rstrip(b"\n"))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _entry(
    row: dict[str, Any], rules: _Rules, fitter: _Fitter | None, write: Writer, tally: _Tally
) -> tuple[str, bytes, int, int | None] | None:
    """One candidate → (split, line, copies, tokens), or None with the reason counted. `row["review"]`
    (optional): the preferences review decision in force, "swap" or "drop"."""
    recipe = rules.recipe
    reason = rules.dropped_reason(row)
    source, license = rules.pick(row["sources"])
    if reason is None and license is None:
        reason = f"license excluded ({tally.licenses.get(source) or UNSTATED})"
    category = (row["category"] or "-") if row["kind"] == "sft" else "-"
    if reason is None and rules.capped:
        if tally.per_source[source] >= recipe.source_caps.get(source, 1 << 62):
            reason = f"over the cap for source {source}"
        elif tally.per_category[category] >= recipe.category_caps.get(category, 1 << 62):
            reason = f"over the cap for category {category}"
    copies = 1
    if rules.weighted:
        weight = recipe.source_weights.get(source, 1.0) * recipe.category_weights.get(category, 1.0)
        copies = _copies(weight, row["id"], recipe.salt) if weight != 1.0 else 1
        if reason is None and copies == 0:
            reason = "left out by a weight below 1"
    body = orjson.loads(rules.body_json(row["body"])) if reason is None else None
    n_tokens = row["tokens"]
    if body is not None:
        added, replaced = apply_system(body, recipe, tally.changed)
        if fitter is not None and n_tokens is not None:
            before = len(body["messages"])
            reason = fitter.fit(body, n_tokens, added, replaced)
            if reason is None and len(body["messages"]) < before:
                tally.changed[f"truncated to max_tokens ({fitter.limit})"] += 1
    if reason is not None:
        tally.dropped[reason] += 1
        return None
    assert body is not None
    # After the token fit (which counts curate's chosen side): exchanged only for the writer.
    swapped = row.get("review") == "swap" and body["kind"] == "preference"
    if swapped:
        body["chosen"], body["rejected"] = body["rejected"], body["chosen"]
    try:
        line = write(body, tally.changed)
    except Unwritable as e:
        tally.dropped[str(e)] += 1
        return None
    if line is None:
        shape = f" {recipe.rows}" if recipe.rows != "chat" else ""
        tally.dropped[f"cannot be written as {recipe.format}{shape}"] += 1
        return None
    if swapped:
        tally.changed[SWAPPED] += 1
    if rules.system_note and not (body["messages"] and body["messages"][0]["role"] == "system"):
        tally.notes[NO_SYSTEM_NOTE] += 1
    split = rules.split(_group(row))
    copies = copies if split == "train" else 1  # repeats help training; they only skew valid and test
    if copies > 1:
        tally.changed["repeated by weight (extra rows)"] += copies - 1
    tally.per_source[source] += 1
    tally.per_category[category] += 1
    tally.per_license[license or UNSTATED] += copies
    tally.breakdown[(split, source, category, row["kind"])] += copies
    return split, line, copies, n_tokens


def _check_sizes(name: str, recipe: RecipeConfig, counts: dict[str, int], dropped: Counter[str]) -> None:
    for s in ("valid", "test"):
        if recipe.splits.get(s, 0) > 0 and 0 < counts[s] < recipe.batch_size:
            raise ExportError(
                f"recipe {name!r}: {s} has {counts[s]} rows, fewer than batch_size {recipe.batch_size}; "
                "mlx-lm and TRL fail on it. Add data, raise the fraction, or lower batch_size."
            )
    if counts["train"] == 0:
        raise ExportError(
            f"recipe {name!r}: no training rows (dropped: {dict(dropped) or 'nothing matched'})"
        )


def _manifest(
    name: str,
    recipe: RecipeConfig,
    catalog: Catalog,
    counts: dict[str, int],
    tally: _Tally,
    shas: dict[str, str],
) -> dict[str, Any]:
    return {
        "schema": MANIFEST_SCHEMA,
        "recipe": {"name": name, **recipe_fields(recipe)},
        "catalog": catalog.export_state(),
        "counts": counts,
        "breakdown": [
            {"split": k[0], "source": k[1], "category": k[2], "kind": k[3], "examples": n}
            for k, n in sorted(tally.breakdown.items())
        ],
        "tokens": {
            s: {"total": t[0], "max": t[1], "mean": round(t[0] / t[2], 1)}
            for s, t in tally.tokens.items()
            if t[2]
        },
        "licenses": dict(sorted(tally.per_license.items())),
        "dropped": dict(sorted(tally.dropped.items())),
        "changed": dict(sorted(tally.changed.items())),
        "notes": dict(sorted(tally.notes.items())),
        "files": shas,
    }


def explain(config: Config, name: str, row: dict[str, Any]) -> dict[str, Any]:
    """What recipe `name` does with one example (an `export_candidate` row, with `review` set to its
    `reviewed_preferences()` decision to take that into account): `{"in": True, "split"}` or
    `{"in": False, "reason"}`. Caps count across examples: one example alone never reaches one."""
    recipe = config.recipes[name]
    if not set(row["sources"]) & set(recipe.sources):
        return {"in": False, "reason": "not from the recipe's sources"}
    if row["kind"] not in recipe.kinds:
        return {"in": False, "reason": f"kind {row['kind']} is not in the recipe's kinds"}
    fitter = _Fitter(recipe, config.curate.tokenizer) if recipe.max_tokens else None
    tally = _Tally(licenses=licenses_of(config))
    entry = _entry(row, _Rules(recipe, tally.licenses), fitter, writer_for(recipe), tally)
    if entry is None:
        return {"in": False, "reason": next(iter(tally.dropped))}
    return {"in": True, "split": entry[0], "copies": entry[2], "changed": sorted(tally.changed)}


def outcomes(
    config: Config, catalog: Catalog, recipe: RecipeConfig
) -> Iterator[tuple[dict[str, Any], str | None, list[str]]]:
    """Every candidate of the recipe in export order → (row, why it is left out or None, what export
    changes in its row), by the rule `run_export` applies; caps count across rows as it counts them."""
    fitter = _Fitter(recipe, config.curate.tokenizer) if recipe.max_tokens else None
    write = writer_for(recipe)
    licenses = licenses_of(config)
    rules = _Rules(recipe, licenses, catalog.bodies.json)
    per_source: Counter[str] = Counter()
    per_category: Counter[str] = Counter()
    for row in catalog.export_candidates(recipe.sources, recipe.kinds, stored_bodies=True):
        tally = _Tally(per_source=per_source, per_category=per_category, licenses=licenses)
        entry = _entry(row, rules, fitter, write, tally)
        dropped = None if entry is not None else next(iter(tally.dropped), "left out")
        yield row, dropped, sorted(tally.changed)
