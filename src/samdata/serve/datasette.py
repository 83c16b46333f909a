"""`samdata browse`: Datasette on the catalog, read-only, described for people.

Datasette opens the file with `mode=ro` (never `immutable`: it sees a live catalog's WAL writes).
What could show a secret in clear is not served: the raw bodies (`examples`, `raw_records`) and the
provenance labels (a conversation title, a capture's meta) are denied, and so is arbitrary SQL;
the canned queries show bodies only as curate redacted them, and only once curate has scanned them.
"""

from __future__ import annotations

from typing import Any

from samdata.catalog.bodies import BodyCodec
from samdata.config import Config

# Tables a person reads: description, columns, facets.
TABLES: dict[str, dict[str, Any]] = {
    "files": {
        "description": "Every file scan found under the roots: size, hash, sniffed format, records, problems.",
        "facets": ["root", "format", "kind"],
        "columns": {
            "path": "absolute path",
            "root": "the configured root holding it",
            "format": "sniffed source format",
            "records": "records counted by the scan",
            "bad_records": "records that did not parse",
            "content_hash": "xxh3 of the bytes",
        },
    },
    "problems": {
        "description": "What each scan found wrong, with what to do about it.",
        "facets": ["kind", "severity"],
        "columns": {"paths": "JSON list of the files involved", "action": "what to do"},
    },
    "scans": {"description": "One row per `samdata scan`."},
    "sources": {"description": "The sources of the config (name, glob, format)."},
    "ingest_runs": {"description": "One row per `samdata ingest`."},
    "ingest_files": {"description": "Each (source, file) ingest read; provenance points here."},
    "example_sources": {
        "description": "Each example's sources, one row per (example, source), kept equal to provenance.",
        "facets": ["source"],
    },
    "ingest_accounts": {
        "description": "Per file: records read = produced + quarantined + skipped, by reason.",
        "facets": ["source"],
    },
    "quarantine": {
        "description": "Records that could not become examples: file, locator, reason, redacted snippet.",
        "facets": ["source", "reason"],
    },
    "labels": {
        "description": "Curate's labels: one row per example, a JSON value per detector (quality, secrets, language, ...)"
        " and the version it was computed by.",
    },
    "findings": {
        "description": "Secrets and personal data curate found: kind, where, a preview too short to use.",
        "facets": ["kind"],
        "columns": {"hash": "xxh3 of the matched text: add it to [curate] allow to silence a false positive"},
    },
    "redactions": {
        "description": "Bodies with every finding replaced by a typed placeholder (what exports use)."
    },
    "neardup_pairs": {"description": "Near-duplicate pairs with their verified Jaccard similarity."},
    "exports": {"description": "Export history: recipe, folder, manifest hash, counts."},
    "export_members": {
        "description": "Which example went to which split of which export.",
        "facets": ["split"],
    },
    "training_runs": {
        "description": "Training runs: backend, base model, export, status.",
        "facets": ["status"],
    },
    "validation_log": {"description": "Metrics per step of each training run."},
    "pipeline_runs": {"description": "`samdata run` history.", "facets": ["status", "trigger"]},
    "pipeline_stages": {"description": "The stages of each pipeline run.", "facets": ["stage", "status"]},
}

# Never served as tables: raw text, and labels that may hold it.
DENIED = ("examples", "raw_records", "provenance", "provenance_paths", "capture_requests")
HIDDEN = ("lsh_index", "lsh_recent", "lsh_pending", "cluster_dirty", "stats_cache", "schema_migrations", "ingest_progress", "roots",
          "data_version")  # fmt: skip

_BODY = (
    "CASE WHEN s.secrets IS NULL THEN '(not scanned for secrets yet: run samdata curate)'"
    " ELSE substr(coalesce(r.body, body_text(e.body)), 1, 2000) END"
)

QUERIES: dict[str, dict[str, Any]] = {
    "examples_by_source": {
        "title": "Examples by source",
        "description": "Live examples per source and kind, and how many curate keeps.",
        "sql": "SELECT es.source, e.kind, count(*) AS examples,"
        " count(CASE WHEN l.verdict ->> '$.kept' = 1 THEN 1 END) AS kept"
        " FROM example_sources es JOIN examples e ON e.id = es.example_id AND e.forgotten = 0"
        " LEFT JOIN labels l ON l.example_id = e.id"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    },
    "examples_of_source": {
        "title": "Examples of one source",
        "description": "The examples of a source, bodies as curate redacted them.",
        "sql": f"SELECT e.id, e.kind, e.turns, e.created_at, {_BODY} AS body"
        " FROM examples e LEFT JOIN labels s ON s.example_id = e.id"
        " LEFT JOIN redactions r ON r.example_id = e.id"
        " WHERE e.forgotten = 0 AND e.id IN (SELECT example_id FROM example_sources WHERE source = :source)"
        " ORDER BY e.id LIMIT 200",
    },
    "secrets_to_review": {
        "title": "Secrets to review",
        "description": "Every kind of finding with its previews; allow a false positive by its hash in [curate] allow.",
        "sql": "SELECT f.kind, f.preview, f.hash, count(*) AS times, count(DISTINCT f.example_id) AS examples,"
        " min(f.example_id) AS an_example FROM findings f GROUP BY f.kind, f.hash ORDER BY f.kind, times DESC",
    },
    "quarantine_by_reason": {
        "title": "Quarantine by reason",
        "description": "Why records did not become examples, per source.",
        "sql": "SELECT reason, source, count(*) AS records, count(DISTINCT file) AS files FROM quarantine"
        " GROUP BY reason, source ORDER BY records DESC",
    },
    "example_origin": {
        "title": "Where an example came from",
        "description": "Every (source, file, locator) that produced an example id.",
        "sql": "SELECT source, file, locator, ingest_run FROM provenance_paths WHERE example_id = :id ORDER BY id",
    },
}


def metadata(config: Config) -> dict[str, Any]:
    """Datasette metadata for the catalog of `config`."""
    db = config.catalog_path.stem
    tables: dict[str, Any] = {name: dict(spec) for name, spec in TABLES.items()}
    for name in DENIED:
        tables[name] = {"allow": False, "hidden": True}
    for name in HIDDEN:
        tables[name] = {"hidden": True}
    return {
        "title": "samdata catalog",
        "description": "Training data of the estate: files, examples' labels, exports, runs. Read-only.",
        "databases": {db: {"allow_sql": False, "tables": tables, "queries": QUERIES}},
    }


def datasette_app(config: Config) -> Any:
    """The Datasette instance for `config`'s catalog (its ASGI app is `.app()`)."""
    from datasette import hookimpl
    from datasette.app import Datasette
    from datasette.plugins import pm

    codec = BodyCodec(str(config.catalog_path), {})  # loads the catalog's dictionaries as frames name them

    class Bodies:
        """Its connections read compressed bodies with body_text(), as samdata's do."""

        __name__ = "samdata_bodies"  # Datasette lists plugins by module name

        @hookimpl
        def prepare_connection(self, conn: Any) -> None:
            codec.register(conn)

    if pm.get_plugin("samdata-bodies") is not None:
        pm.unregister(name="samdata-bodies")
    pm.register(Bodies(), name="samdata-bodies")
    return Datasette(
        [str(config.catalog_path)],
        metadata=metadata(config),
        settings={
            "default_page_size": 50,
            "sql_time_limit_ms": 5000,
            "allow_download": False,
            "suggest_facets": False,
        },
    )


def run_datasette(config: Config, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(datasette_app(config).app(), host=host, port=port, log_level="warning")
