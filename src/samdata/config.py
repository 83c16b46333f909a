"""`samdata.toml` → validated pydantic models.

Relative paths in the file are resolved against the folder that holds the config file, so a
config can travel with its estate. Errors name the file and the offending key.
"""

from __future__ import annotations

import datetime
import difflib
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from samdata.paths import is_below

CONFIG_FILENAME = "samdata.toml"
# Finder/Spotlight litter on macOS drives: never data, never worth a problem.
DEFAULT_EXCLUDES = [
    ".DS_Store",
    "._*",
    ".Spotlight-V100",
    ".fseventsd",
    ".Trashes",
    ".TemporaryItems",
    ".DocumentRevisions-V100",
    ".git",
    ".samdata",
    "__pycache__",
    ".venv",
    "node_modules",
]


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; the message names file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RootConfig(_Strict):
    """A storage root: an internal folder or an external drive's mount point."""

    name: Annotated[str, Field(min_length=1)]
    path: Path
    notes: str | None = None


class SourceConfig(_Strict):
    """A named source: a glob of files in one format."""

    name: Annotated[str, Field(min_length=1)]
    path: str
    format: str = "auto"
    license: str | None = None  # required for web content (formats html, warc): exports list it
    url_prefix: str | None = None  # a folder mirrored from a site: its files' URLs are prefix + path
    notes: str | None = None
    active: bool = True
    # Adapter options, e.g. `tool_output_chars` for claude_code, `tool_turns` for chatgpt_export.
    options: dict[str, Any] = Field(default_factory=dict)
    category: str | None = None  # curate: every example of this source gets this category
    language: str | None = None  # curate: the language its examples should be in (ISO 639-1)

    @model_validator(mode="after")
    def _web_content_has_a_license(self) -> SourceConfig:
        from samdata.formats import WEB_FORMATS

        if self.format in WEB_FORMATS and not self.license:
            raise ValueError(
                f"source {self.name!r}: web content (format {self.format!r}) needs a license, e.g."
                ' license = "CC-BY-4.0", or "all-rights-reserved" for pages kept for private use'
            )
        return self


class ExpectConfig(_Strict):
    """A file some pipeline reads; its absence is a `missing_input` problem."""

    path: Path
    reader: Annotated[str, Field(min_length=1)]
    notes: str | None = None


class ScanSettings(_Strict):
    """Thresholds of the scan's problem detectors."""

    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    fragment_min_files: Annotated[int, Field(ge=2)] = 10
    fragment_max_bytes: Annotated[int, Field(ge=1)] = 4096
    duplicate_rate_min_records: Annotated[int, Field(ge=1)] = 1000
    duplicate_rate_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    underused_store_share: Annotated[float, Field(gt=0, le=1)] = 0.1
    underused_store_min_flat_records: Annotated[int, Field(ge=1)] = 100
    max_record_bytes: Annotated[int, Field(ge=1024)] = 32 * 1024 * 1024
    sniff_records: Annotated[int, Field(ge=1)] = 50
    bad_record_samples: Annotated[int, Field(ge=1)] = 5
    # A compressed file may expand at most this many times its size (past 256 MiB; 0: no limit).
    max_expansion: Annotated[float, Field(ge=0)] = 200.0


class IngestSettings(_Strict):
    """How ingest batches and bounds its reads."""

    batch_records: Annotated[int, Field(ge=1)] = 2000
    max_record_bytes: Annotated[int, Field(ge=1024)] = 32 * 1024 * 1024
    # JSONL is read in chunks of whole lines, one commit each; files of at least
    # `parallel_min_bytes` have their chunks converted by `workers` processes (0: one per core).
    chunk_bytes: Annotated[int, Field(ge=4096)] = 4 * 1024 * 1024
    parallel_min_bytes: Annotated[int, Field(ge=0)] = 64 * 1024 * 1024
    workers: Annotated[int, Field(ge=0)] = 0
    # A compressed file may expand at most this many times its size (past 256 MiB; 0: no limit):
    # beyond that it is refused as a decompression bomb.
    max_expansion: Annotated[float, Field(ge=0)] = 200.0


class CurateSettings(_Strict):
    """What curate looks for: the owner's private literals, reviewed false positives, answer bounds."""

    literals: list[str] = Field(default_factory=list)  # names, home paths, host names to redact
    allow: list[str] = Field(default_factory=list)  # finding hashes (`samdata secrets`) that are fine
    # Texts that are fine whatever their hash: RE2 patterns the whole finding must match,
    # `KIND:REGEX` to limit one to a detector (`email:.*@example\\.org`).
    allow_patterns: list[str] = Field(default_factory=list)
    min_answer_chars: Annotated[int, Field(ge=0)] = 1
    max_answer_chars: Annotated[int, Field(ge=1)] = 24_000
    # Near-duplicates: shingles, verified Jaccard threshold, LSH bands × rows, keeper priority.
    shingle: Literal["word", "char"] = "word"
    shingle_size: Annotated[int, Field(ge=1, le=32)] = 5
    neardup_threshold: Annotated[float, Field(gt=0, le=1)] = 0.7
    lsh_bands: Annotated[int, Field(ge=1)] = 20
    lsh_rows: Annotated[int, Field(ge=1)] = 6
    normalize_numbers: bool = False
    source_priority: list[str] = Field(default_factory=list)  # keeper: earliest listed source wins
    category_overrides: dict[str, str] = Field(default_factory=dict)  # example id → category
    tokenizer: str = "qwen2.5"  # the bundled Qwen2.5 BPE, or a folder holding tokenizer.json


class RecipeTrain(_Strict):
    """`[recipes.NAME.train]`: `samdata run` trains on the export whenever it was written anew."""

    model: Path  # a local base model folder (never downloaded)
    backend: Literal["mlx", "trl"] | None = None  # default: the one that reads the export's format
    steps: Annotated[int, Field(ge=1)] = 200
    learning_rate: Annotated[float, Field(gt=0)] = 1e-5
    lora_rank: Annotated[int, Field(ge=1)] = 8
    lora_layers: Annotated[int, Field(ge=1)] = 16
    max_seq_length: Annotated[int, Field(ge=16)] = 2048
    mask_prompt: bool = False


class RecipeConfig(_Strict):
    """What goes into an export and how it is written (`[recipes.NAME]`)."""

    sources: list[str]
    # Where `samdata run` writes it (default: exports/NAME beside the catalog); `samdata export`
    # writes where --out says.
    out: Path | None = None
    train: RecipeTrain | None = None
    kinds: list[Literal["sft", "preference", "kto"]] = Field(default_factory=lambda: ["sft"])
    splits: dict[Literal["train", "valid", "test"], Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"train": 0.9, "valid": 0.05, "test": 0.05}
    )
    format: Literal["mlx", "trl", "sharegpt", "alpaca"] = "mlx"
    # SFT row shape (loaders read one shape per file): `chat` messages; `completions` puts the last
    # assistant turn apart, so the loss covers only it (mlx: prompt/completion strings, single-turn
    # only; trl: conversational prompt/completion, any number of turns); `text` plain text
    # (documents' chunks, the text adapter's rows): mlx-lm's text rows, TRL's language modelling.
    rows: Literal["chat", "completions", "text"] = "chat"
    salt: str = "samdata"
    categories: list[str] | None = None  # only these categories (SFT)
    # What is left out: by default exactly what curate's funnel does not count as kept
    # (samdata.curate.verdict); each rule can be loosened.
    exclude_near_duplicates: bool = True  # near-duplicates that are not their cluster's keeper
    exclude_quality_flags: list[str] | Literal["all"] = (
        "all"  # or only some, e.g. ["placeholder"]; [] keeps all
    )
    exclude_wrong_language: bool = True  # examples not in their source's configured language
    exclude_secrets: bool = False  # leave out examples that had secrets instead of exporting them redacted
    # Leave out what is under these licences (source settings; "unstated" for sources without one).
    exclude_licenses: list[str] = Field(default_factory=list)
    max_tokens: Annotated[int, Field(ge=1)] | None = None  # longer examples: see on_long (always counted)
    on_long: Literal["drop", "truncate"] = "drop"  # truncate: SFT loses its last turns, never a prompt
    # Weights by source or category name: 3 = each train example written 3 times, 0.5 = half of
    # them kept (chosen by a stable hash); a source's and a category's weight multiply.
    source_weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    category_weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    # At most this many examples per source or category (before repetition), in id order.
    source_caps: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    category_caps: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    # Added where a row has none ("add"), or put in every row ("replace"); empty: rows keep what they
    # have (Qwen2.5-style templates then insert their own default system prompt when training).
    system_prompt: str = ""
    system_policy: Literal["keep", "add", "replace"] = "add"
    batch_size: Annotated[int, Field(ge=1)] = 4  # valid/test must hold at least this many rows

    @model_validator(mode="after")
    def _fractions(self) -> RecipeConfig:
        if sum(self.splits.values()) <= 0:
            raise ValueError("splits: fractions must add up to more than 0")
        if "sft" in self.kinds and "preference" in self.kinds:
            # Loaders pick a row shape from the first row of a file: one export, one shape.
            raise ValueError('kinds: "sft" and "preference" rows cannot share files; make two recipes')
        shapes = {"completions": ("mlx", "trl"), "text": ("mlx", "trl")}.get(self.rows)
        if shapes and (self.format not in shapes or self.kinds != ["sft"]):
            raise ValueError(f'rows = "{self.rows}" is an SFT row shape of format {" or ".join(shapes)}')
        unknown = (set(self.source_weights) | set(self.source_caps)) - set(self.sources)
        if unknown:
            raise ValueError(f"source_weights/source_caps name sources not in this recipe: {sorted(unknown)}")
        return self


class PipelineSettings(_Strict):
    """`samdata run`, `schedule` and `watch`."""

    interval_minutes: Annotated[int, Field(ge=1)] = 60  # how often the installed schedule runs
    log: Path | None = None  # where scheduled runs write (default: logs/run.log beside the catalog)
    debounce_ms: Annotated[int, Field(ge=50)] = 2000  # the watcher waits this long for writes to settle
    # Claude Code deletes transcripts older than this many days (its `cleanupPeriodDays`; default:
    # read from ~/.claude/settings.json, else 30): scan and run warn a week before.
    claude_cleanup_days: Annotated[int, Field(ge=1)] | None = None
    expiry_warning_days: Annotated[int, Field(ge=0)] = 7


class EngineSettings(_Strict):
    """Where ingest and curate run their stage work (`--engine` overrides `kind`)."""

    kind: Literal["local", "ray"] = "local"
    # Ray: "ray://head:10001" (Ray Client), "auto" (the cluster this machine belongs to), or none: a
    # Ray started for the command on this machine and stopped after it.
    address: str | None = None
    # Batches in flight per CPU of the cluster: bounds memory on both sides.
    window_per_cpu: Annotated[int, Field(ge=1)] = 2


class ServeSettings(_Strict):
    """`samdata serve`."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8765
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    # Extra names the server answers to (its bind address and localhost always work).
    allowed_hosts: list[str] = Field(default_factory=list)


class ConsentRecord(BaseModel):
    """Who agreed to their voice being used, to what use, when, and where the statement is kept
    (more keys are kept as written)."""

    model_config = ConfigDict(extra="allow")

    by: Annotated[str, Field(min_length=1)]
    use: Annotated[str, Field(min_length=1)]
    date: datetime.date | Annotated[str, Field(min_length=1)]
    statement: str | None = None  # where the signed or recorded statement is kept


class VoiceSpeaker(_Strict):
    """A voice: reference clips of it (globs of WAV files) and the consent its packaging needs."""

    name: Annotated[str, Field(min_length=1)]
    references: list[str] = Field(default_factory=list)
    consent: ConsentRecord | None = None


class VoiceSource(_Strict):
    """Recordings (a glob of video or audio files) of one speaker."""

    name: Annotated[str, Field(min_length=1)]
    path: str
    speaker: Annotated[str, Field(min_length=1)]


# A number as trainers print it: 2.314, -0.5, 1e-05, nan, inf.
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
# `epoch=3 step=120 loss=2.314` (any order, `=` or `:`), and `loss_gen_all=41.2` lines; the step and
# epoch are read wherever they are on the line, the loss is the first `loss` or `loss_gen_all` figure.
RVC_LOSS_PATTERN = (
    rf"^(?:(?=.*?\b(?:global_)?step\s*[=:]\s*(?P<step>\d+)))?(?:(?=.*?\bepoch\s*[=:]\s*(?P<epoch>\d+)))?"
    rf"(?:(?=.*?\b(?:lr|learning_rate)\s*[=:]\s*(?P<lr>{_NUMBER})))?"
    rf".*?\b(?:loss_gen_all|loss)\s*[=:]\s*(?P<loss>{_NUMBER})"
)
# RVC's trainer logs `[global_step, lr]` on a line of its own before each loss line.
RVC_STEP_PATTERN = rf"\[(?P<step>\d+),\s*(?P<lr>{_NUMBER})\]\s*$"


class VoiceRvc(_Strict):
    """`[voice.rvc]`: the external trainer `samdata train --backend rvc --package DIR` runs.

    `command` is an argument list (no shell); `{package}` (the package folder), `{rate}` (its
    sample rate), `{out}` (the folder the model goes to, inside the run folder) and `{speaker}` are
    filled in. It runs in `cwd` (default: the config's folder) with `env` added to samdata's
    environment. Each output line is matched against `loss_pattern` (named groups: `loss`, and
    optionally `step`, `epoch`, `lr`, `valid_loss`) and `step_pattern` (a line that gives the step,
    and optionally `lr`, for the loss lines after it)."""

    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    loss_pattern: str = RVC_LOSS_PATTERN
    step_pattern: str = RVC_STEP_PATTERN

    @model_validator(mode="after")
    def _patterns(self) -> VoiceRvc:
        import re

        for key, group in (("loss_pattern", "loss"), ("step_pattern", "step")):
            try:
                groups = re.compile(getattr(self, key)).groupindex
            except re.error as e:
                raise ValueError(f"voice.rvc.{key}: not a regular expression: {e}") from e
            if group not in groups:
                raise ValueError(f"voice.rvc.{key}: needs a named group (?P<{group}>...)")
        return self


class VoiceSettings(_Strict):
    """`[voice]`: speakers, sources and the clip bounds of `samdata voice`."""

    speakers: list[VoiceSpeaker] = Field(default_factory=list)
    sources: list[VoiceSource] = Field(default_factory=list)
    min_clip_s: Annotated[float, Field(gt=0)] = 1.5
    max_clip_s: Annotated[float, Field(gt=0)] = 15.0
    min_clean_minutes: Annotated[float, Field(ge=0)] = 10.0  # packaging warns under this
    thresholds: dict[str, float] = Field(default_factory=dict)  # overrides of samdata.voice.checks.Thresholds
    quality_model: bool = True  # DNSMOS P.835 on every clip (the `quality` check); false leaves it out
    rvc: VoiceRvc = Field(default_factory=VoiceRvc)

    @model_validator(mode="after")
    def _consistent(self) -> VoiceSettings:
        for key, names in (
            ("speakers", [s.name for s in self.speakers]),
            ("sources", [s.name for s in self.sources]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"voice.{key}: names must be unique; repeated: {', '.join(dupes)}")
        known = {s.name for s in self.speakers}
        for i, source in enumerate(self.sources):
            if source.speaker not in known:
                _check_names(f"voice.sources[{i}].speaker", [source.speaker], known, "speaker")
        if self.min_clip_s >= self.max_clip_s:
            raise ValueError(
                f"voice.min_clip_s ({self.min_clip_s}) must be below voice.max_clip_s ({self.max_clip_s})"
            )
        return self

    def speaker(self, name: str) -> VoiceSpeaker | None:
        return next((s for s in self.speakers if s.name == name), None)


class Config(_Strict):
    """The whole `samdata.toml`."""

    catalog: Path | None = None
    roots: list[RootConfig] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    expects: list[ExpectConfig] = Field(default_factory=list)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    curate: CurateSettings = Field(default_factory=CurateSettings)
    recipes: dict[str, RecipeConfig] = Field(default_factory=dict)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    # Where the file was read from; relative paths were resolved against its folder.
    config_path: Path | None = Field(default=None, exclude=True)

    @field_validator("roots")
    @classmethod
    def _unique_root_names(cls, roots: list[RootConfig]) -> list[RootConfig]:
        names = [r.name for r in roots]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"root names must be unique; repeated: {', '.join(dupes)}")
        return roots

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources

    @model_validator(mode="after")
    def _known_formats(self) -> Config:
        from samdata.formats import FORMATS

        for i, source in enumerate(self.sources):
            if source.format != "auto" and source.format not in FORMATS:
                raise ValueError(
                    f"sources[{i}].format: unknown format {source.format!r}; "
                    f"use 'auto' or one of: {', '.join(sorted(FORMATS))}"
                )
        return self

    @model_validator(mode="after")
    def _known_references(self) -> Config:
        """Recipes and curate settings name sources and categories that exist (a typo would
        silently export less)."""
        from samdata.model import CAPTURE_SOURCES, CATEGORIES

        sources = {s.name for s in self.sources} | set(CAPTURE_SOURCES.values())
        categories = set(CATEGORIES) | {s.category for s in self.sources if s.category}
        categories |= set(self.curate.category_overrides.values())
        for name, recipe in self.recipes.items():
            for key, names, known in (
                ("sources", recipe.sources, sources),
                ("source_weights", recipe.source_weights, sources),
                ("source_caps", recipe.source_caps, sources),
                ("categories", recipe.categories or [], categories),
                ("category_weights", recipe.category_weights, categories),
                ("category_caps", recipe.category_caps, categories),
            ):
                _check_names(
                    f"recipes.{name}.{key}", names, known, "source" if "source" in key else "category"
                )
        _check_names("curate.source_priority", self.curate.source_priority, sources, "source")
        return self

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    def root_for(self, path: str) -> RootConfig | None:
        """The innermost configured root that holds `path` (roots may be nested)."""
        best = None
        for r in self.roots:
            if is_below(path, str(r.path)) and (best is None or len(str(r.path)) > len(str(best.path))):
                best = r
        return best

    @property
    def catalog_path(self) -> Path:
        """The catalog file: as configured, else `.samdata/catalog.db` beside the config."""
        return self.catalog if self.catalog else self.base_dir / ".samdata" / "catalog.db"

    def resolve(self, base: Path) -> Config:
        """Return a copy with every relative path made absolute against `base`."""

        def fix(p: Path) -> Path:
            p = Path(os.path.expanduser(p))
            return p if p.is_absolute() else base / p

        def fix_glob(g: str) -> str:
            g = os.path.expanduser(g)
            return g if os.path.isabs(g) else str(base / g)

        return self.model_copy(
            update={
                "catalog": fix(self.catalog) if self.catalog else None,
                "roots": [r.model_copy(update={"path": fix(r.path)}) for r in self.roots],
                "sources": [s.model_copy(update={"path": fix_glob(s.path)}) for s in self.sources],
                "expects": [e.model_copy(update={"path": fix(e.path)}) for e in self.expects],
                "recipes": {name: _resolve_recipe(r, fix) for name, r in self.recipes.items()},
                "voice": self.voice.model_copy(
                    update={
                        "speakers": [
                            sp.model_copy(update={"references": [fix_glob(g) for g in sp.references]})
                            for sp in self.voice.speakers
                        ],
                        "sources": [
                            vs.model_copy(update={"path": fix_glob(vs.path)}) for vs in self.voice.sources
                        ],
                    }
                ),
                "pipeline": self.pipeline.model_copy(
                    update={"log": fix(self.pipeline.log) if self.pipeline.log else None}
                ),
            }
        )

    def export_dir(self, name: str) -> Path:
        """Where `samdata run` writes recipe `name`."""
        out = self.recipes[name].out
        return out if out else self.catalog_path.parent / "exports" / name

    @property
    def run_log(self) -> Path:
        """The log file of scheduled runs."""
        return self.pipeline.log or self.catalog_path.parent / "logs" / "run.log"


def _resolve_recipe(recipe: RecipeConfig, fix: Any) -> RecipeConfig:
    update: dict[str, Any] = {}
    if recipe.out:
        update["out"] = fix(recipe.out)
    if recipe.train:
        update["train"] = recipe.train.model_copy(update={"model": fix(recipe.train.model)})
    return recipe.model_copy(update=update) if update else recipe


def _check_names(key: str, names: Any, known: set[str], what: str) -> None:
    """ValueError naming the key, the unknown value and the closest known name."""
    for value in names:
        if value in known or (what == "source" and value.startswith("scan:")):
            continue
        close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(sorted(k for k in known if not k.startswith("capture:"))) or "none"
        raise ValueError(f"{key}: unknown {what} {value!r}{hint} (configured: {shown})")


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid config"]
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        if e["type"] == "value_error" and not e["loc"]:
            lines.append(f"  {msg.removeprefix('Value error, ')}")  # names its own key
            continue
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate TOML text as if it were read from `path`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(path, e)) from e
    path = path.absolute()
    return cfg.resolve(path.parent).model_copy(update={"config_path": path})


def load_config(path: Path | str | None = None) -> Config:
    """Read `samdata.toml`: the given path, else `$SAMDATA_CONFIG`, else `./samdata.toml`."""
    if path is None:
        path = os.environ.get("SAMDATA_CONFIG") or CONFIG_FILENAME
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config file not found (create one with `samdata init`)") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from e
    return parse_config(text, path)
