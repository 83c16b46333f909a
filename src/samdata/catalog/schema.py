"""Schema migrations. Each entry runs once, in order, inside one transaction with its version row.

Never edit a released migration: append a new one. Columns are named for humans because the
catalog is meant to be read with `sqlite3` and Datasette too.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "scan: roots, scans, files, sources, problems, stats_cache",
        """
        CREATE TABLE scans (
            id              INTEGER PRIMARY KEY,
            started_at      TEXT NOT NULL,
            finished_at     TEXT,
            status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
            config_path     TEXT,
            scope           TEXT NOT NULL DEFAULT '[]',   -- JSON list of walked paths
            files_seen      INTEGER NOT NULL DEFAULT 0,
            files_read      INTEGER NOT NULL DEFAULT 0,
            bytes_read      INTEGER NOT NULL DEFAULT 0,
            files_deleted   INTEGER NOT NULL DEFAULT 0,
            problem_count   INTEGER NOT NULL DEFAULT 0,
            error           TEXT
        );

        CREATE TABLE roots (
            name            TEXT PRIMARY KEY,
            path            TEXT NOT NULL,
            online          INTEGER NOT NULL,
            last_online_at  TEXT,
            last_scan_id    INTEGER REFERENCES scans(id)
        );

        CREATE TABLE files (
            id              INTEGER PRIMARY KEY,
            path            TEXT NOT NULL UNIQUE,          -- absolute; undecodable bytes shown as \\xNN
            path_bytes      BLOB,                          -- the raw name, only when it is not UTF-8
            root            TEXT REFERENCES roots(name),
            relpath         TEXT NOT NULL,
            kind            TEXT NOT NULL CHECK (kind IN ('file', 'symlink')),
            size            INTEGER,
            mtime_ns        INTEGER,
            content_hash    TEXT,                          -- xxh3-128 of the bytes
            format          TEXT,
            variant         TEXT,
            container       TEXT,
            records         INTEGER,
            bad_records     INTEGER NOT NULL DEFAULT 0,
            details         TEXT NOT NULL DEFAULT '{}',    -- JSON: tables, duration, bad samples, ...
            link_target     TEXT,
            error           TEXT,
            analyzer        TEXT,                          -- analyzer version + settings that shape a read
            status          TEXT NOT NULL DEFAULT 'present' CHECK (status IN ('present', 'deleted')),
            first_seen_scan INTEGER REFERENCES scans(id),
            last_read_scan  INTEGER REFERENCES scans(id),   -- an unchanged file is not re-read
            deleted_scan    INTEGER REFERENCES scans(id)    -- the scan that found it gone
        );
        CREATE INDEX files_by_root ON files(root, status);
        CREATE INDEX files_by_hash ON files(content_hash);

        CREATE TABLE sources (
            name            TEXT PRIMARY KEY,
            path_glob       TEXT NOT NULL,
            format          TEXT NOT NULL,
            license         TEXT,
            notes           TEXT,
            active          INTEGER NOT NULL DEFAULT 1,
            updated_at      TEXT NOT NULL
        );

        CREATE TABLE problems (
            id              INTEGER PRIMARY KEY,
            scan_id         INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
            kind            TEXT NOT NULL,
            severity        TEXT NOT NULL CHECK (severity IN ('error', 'warning', 'info')),
            root            TEXT,
            paths           TEXT NOT NULL,                 -- JSON list of absolute paths
            figures         TEXT NOT NULL DEFAULT '{}',    -- JSON
            message         TEXT NOT NULL,
            action          TEXT NOT NULL
        );
        CREATE INDEX problems_by_scan ON problems(scan_id, kind);

        CREATE TABLE stats_cache (
            key             TEXT PRIMARY KEY,
            scan_id         INTEGER REFERENCES scans(id),
            value           TEXT NOT NULL,                 -- JSON
            computed_at     TEXT NOT NULL
        );
        """,
    ),
]

MIGRATIONS.append(
    (
        2,
        "ingest: examples, provenance, quarantine, ingest_runs, ingest_progress",
        """
        CREATE TABLE ingest_runs (
            id              INTEGER PRIMARY KEY,
            started_at      TEXT NOT NULL,
            finished_at     TEXT,
            status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
            sources         TEXT NOT NULL DEFAULT '[]',    -- JSON list of source names
            files           INTEGER NOT NULL DEFAULT 0,
            records         INTEGER NOT NULL DEFAULT 0,
            examples_new    INTEGER NOT NULL DEFAULT 0,
            quarantined     INTEGER NOT NULL DEFAULT 0,
            error           TEXT
        );

        CREATE TABLE examples (
            id              TEXT NOT NULL UNIQUE,          -- xxh3-128 of the canonical JSON (samdata.model)
            kind            TEXT NOT NULL CHECK (kind IN ('sft', 'preference', 'kto')),
            body            TEXT NOT NULL,                 -- canonical JSON (messages, chosen, rejected, ...)
            turns           INTEGER NOT NULL,
            chars           INTEGER NOT NULL,
            first_run       INTEGER REFERENCES ingest_runs(id),
            created_at      TEXT NOT NULL,
            forgotten       INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX examples_by_kind ON examples(kind);

        CREATE TABLE ingest_files (
            id              INTEGER PRIMARY KEY,
            source          TEXT NOT NULL,                 -- source name (config), 'scan:<format>', 'capture:<kind>'
            path            TEXT NOT NULL,                 -- absolute path (capture://<kind> for live captures)
            UNIQUE (source, path)
        );

        CREATE TABLE provenance (
            id              INTEGER PRIMARY KEY,
            example_id      TEXT NOT NULL REFERENCES examples(id),
            file_id         INTEGER NOT NULL REFERENCES ingest_files(id),
            locator         TEXT NOT NULL,                 -- JSON: {"line": N} | {"index": N} | ids
            meta            TEXT NOT NULL DEFAULT '{}',    -- JSON: labels such as Dolly's category
            ingest_run      INTEGER REFERENCES ingest_runs(id),
            UNIQUE (file_id, locator, example_id)
        );
        CREATE INDEX provenance_by_example ON provenance(example_id);

        -- Provenance with names instead of ids, for people reading the catalog with sqlite3/Datasette.
        CREATE VIEW provenance_paths AS
            SELECT p.id, p.example_id, f.source, f.path AS file, p.locator, p.meta, p.ingest_run
            FROM provenance p JOIN ingest_files f ON f.id = p.file_id;

        CREATE TABLE quarantine (
            id              INTEGER PRIMARY KEY,
            source          TEXT NOT NULL,
            file            TEXT NOT NULL,
            locator         TEXT NOT NULL,                 -- JSON, as in provenance
            reason          TEXT NOT NULL,
            snippet         TEXT NOT NULL DEFAULT '',
            ingest_run      INTEGER REFERENCES ingest_runs(id),
            UNIQUE (source, file, locator, reason)
        );
        CREATE INDEX quarantine_by_reason ON quarantine(reason);

        CREATE TABLE ingest_progress (
            source          TEXT NOT NULL,
            file            TEXT NOT NULL,
            adapter         TEXT NOT NULL,                 -- adapter name, version and options
            size            INTEGER NOT NULL,              -- file size and mtime when last committed
            mtime_ns        INTEGER NOT NULL,
            head_hash       TEXT NOT NULL,                 -- first bytes: tells an append from a rewrite
            offset          INTEGER NOT NULL DEFAULT 0,    -- bytes committed (line-based files)
            records         INTEGER NOT NULL DEFAULT 0,    -- records committed
            done            INTEGER NOT NULL DEFAULT 0,
            pass_run        INTEGER,                       -- the run that began reading from the start
            PRIMARY KEY (source, file)
        ) WITHOUT ROWID;
        -- Files read before accounts existed are read again from the start, so each gets one.
        UPDATE ingest_progress SET adapter = 'before-accounts', done = 0;
        """,
    )
)

MIGRATIONS.append(
    (
        3,
        "curate: attributes, secret findings, redacted bodies",
        """
        CREATE TABLE attributes (
            example_id      TEXT NOT NULL REFERENCES examples(id),
            detector        TEXT NOT NULL,                 -- secrets | quality | ...
            version         INTEGER NOT NULL,              -- a new version recomputes everything
            value           TEXT NOT NULL,                 -- JSON
            computed_at     TEXT NOT NULL,
            PRIMARY KEY (example_id, detector)
        ) WITHOUT ROWID;
        CREATE INDEX attributes_by_detector ON attributes(detector, version);

        CREATE TABLE findings (
            id              INTEGER PRIMARY KEY,
            example_id      TEXT NOT NULL REFERENCES examples(id),
            kind            TEXT NOT NULL,                 -- aws_access_key, email, ...
            part            TEXT NOT NULL,                 -- where: messages[1].content, chosen[0].content, ...
            span_start      INTEGER NOT NULL,
            span_end        INTEGER NOT NULL,
            hash            TEXT NOT NULL,                 -- xxh3-64 of the matched text: the allow-list key
            preview         TEXT NOT NULL                  -- enough to recognise it, not to use it
        );
        CREATE INDEX findings_by_example ON findings(example_id);

        CREATE TABLE redactions (
            example_id      TEXT PRIMARY KEY REFERENCES examples(id),
            body            TEXT NOT NULL                  -- canonical JSON with typed placeholders
        );
        """,
    )
)

MIGRATIONS.append(
    (
        4,
        "curate: LSH band index and verified near-duplicate pairs",
        """
        CREATE TABLE lsh_bands (
            band            INTEGER NOT NULL,
            hash            INTEGER NOT NULL,              -- xxh3-64 of the band's MinHash rows
            example_id      TEXT NOT NULL REFERENCES examples(id),
            PRIMARY KEY (band, hash, example_id)
        ) WITHOUT ROWID;
        CREATE INDEX lsh_bands_by_example ON lsh_bands(example_id);

        CREATE TABLE neardup_pairs (
            a               TEXT NOT NULL REFERENCES examples(id),
            b               TEXT NOT NULL REFERENCES examples(id),  -- a < b
            jaccard         REAL NOT NULL,                 -- verified on the shingle sets
            PRIMARY KEY (a, b)
        ) WITHOUT ROWID;
        """,
    )
)

MIGRATIONS.append(
    (
        5,
        "export: export history and members",
        """
        CREATE TABLE exports (
            id              INTEGER PRIMARY KEY,
            recipe          TEXT NOT NULL,
            recipe_json     TEXT NOT NULL,
            out_dir         TEXT NOT NULL,
            created_at      TEXT NOT NULL,
            manifest_sha256 TEXT NOT NULL,
            counts          TEXT NOT NULL                  -- JSON: examples per split
        );

        CREATE TABLE export_members (
            export_id       INTEGER NOT NULL REFERENCES exports(id) ON DELETE CASCADE,
            example_id      TEXT NOT NULL REFERENCES examples(id),
            split           TEXT NOT NULL CHECK (split IN ('train', 'valid', 'test')),
            PRIMARY KEY (export_id, example_id)
        ) WITHOUT ROWID;
        CREATE INDEX export_members_by_example ON export_members(example_id);
        """,
    )
)

MIGRATIONS.append(
    (
        6,
        "train: training runs and their per-step metrics",
        """
        CREATE TABLE training_runs (
            id              INTEGER PRIMARY KEY,
            backend         TEXT NOT NULL,                 -- mlx | trl
            mode            TEXT NOT NULL CHECK (mode IN ('sft', 'dpo')),
            base_model      TEXT NOT NULL,                 -- a local folder
            export_id       INTEGER REFERENCES exports(id),
            data_dir        TEXT NOT NULL,
            job_dir         TEXT NOT NULL,
            config          TEXT NOT NULL,                 -- JSON: every setting the run used
            status          TEXT NOT NULL
                            CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
            pid             INTEGER,
            host            TEXT,
            created_at      TEXT NOT NULL,
            started_at      TEXT,
            finished_at     TEXT,
            error           TEXT,
            adapter_path    TEXT
        );
        CREATE INDEX training_runs_by_export ON training_runs(export_id);

        CREATE TABLE validation_log (
            run_id          INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
            step            INTEGER NOT NULL,
            train_loss      REAL,
            valid_loss      REAL,
            tokens_per_second REAL,
            learning_rate   REAL,
            logged_at       TEXT NOT NULL,
            PRIMARY KEY (run_id, step)
        ) WITHOUT ROWID;
        """,
    )
)

MIGRATIONS.append(
    (
        7,
        "ingest: an account of every record of every file",
        """
        -- For each file: records read = produced + quarantined (the quarantine table, by reason)
        -- + skipped (by reason). Counted in the same transaction as the rows and progress they cover.
        CREATE TABLE ingest_accounts (
            source          TEXT NOT NULL,
            file            TEXT NOT NULL,
            records         INTEGER NOT NULL DEFAULT 0,    -- records read
            produced        INTEGER NOT NULL DEFAULT 0,    -- records that became at least one example
            skipped         TEXT NOT NULL DEFAULT '{}',    -- JSON {reason: records left out on purpose}
            dropped         TEXT NOT NULL DEFAULT '{}',    -- JSON {reason: parts of produced records left out}
            examples        TEXT NOT NULL DEFAULT '{}',    -- JSON {kind: examples written, repeats included}
            PRIMARY KEY (source, file)
        ) WITHOUT ROWID;
        -- Files read before accounts existed are read again from the start, so each gets one.
        UPDATE ingest_progress SET adapter = 'before-accounts', done = 0;
        """,
    )
)

MIGRATIONS.append(
    (
        8,
        "curate: one LSH index keyed by band and 32-bit band hash, no secondary index",
        """
        -- Writing 20 band rows per example into a table with a second index cost more than labelling
        -- it. One key (band << 32 | band hash) per row, written in key order; candidates are looked up
        -- by the keys of the new examples, so no index on example_id is needed.
        DROP TABLE lsh_bands;
        CREATE TABLE lsh_index (
            key             INTEGER NOT NULL,              -- band << 32 | 32-bit hash of the band's rows
            example_id      TEXT NOT NULL REFERENCES examples(id),
            PRIMARY KEY (key, example_id)
        ) WITHOUT ROWID;
        DELETE FROM neardup_pairs;
        DELETE FROM attributes WHERE detector IN ('minhash', 'neardup');
        """,
    )
)

MIGRATIONS.append(
    (
        9,
        "ingest: what each distinct raw record produced, so a repeat costs a hash and a lookup",
        """
        -- A backup repeats records byte for byte: a line whose digest is here is not parsed or
        -- converted again; its examples get one provenance row each. The digest includes the
        -- adapter, its version and options, so a changed adapter never reuses an old result.
        CREATE TABLE raw_records (
            digest          INTEGER PRIMARY KEY,           -- xxh3-64 of the line, seeded by the adapter key
            value           TEXT NOT NULL                  -- JSON: {"e": [[example id, kind, ids, meta]], "d": dropped}
        );
        """,
    )
)

MIGRATIONS.append(
    (
        10,
        "curate: band keys of newly signed examples wait in an append-only table",
        """
        -- Inserting 20 random keys per example into a large index cost more than labelling it. New
        -- keys are appended here while a run labels, then merged into lsh_index in one sorted pass,
        -- which also finds their candidates (with each other, and with the index).
        CREATE TABLE lsh_pending (
            key             INTEGER NOT NULL,
            example_id      TEXT NOT NULL
        );
        """,
    )
)

MIGRATIONS.append(
    (
        11,
        "curate: the LSH index checks no foreign key",
        """
        -- The index is derived from examples and cleaned by forget; checking every one of 20 rows per
        -- example against examples(id) doubled the time of merging new keys into it.
        CREATE TABLE lsh_index_new (
            key             INTEGER NOT NULL,
            example_id      TEXT NOT NULL,
            PRIMARY KEY (key, example_id)
        ) WITHOUT ROWID;
        INSERT INTO lsh_index_new SELECT key, example_id FROM lsh_index ORDER BY key, example_id;
        DROP TABLE lsh_index;
        ALTER TABLE lsh_index_new RENAME TO lsh_index;
        """,
    )
)

MIGRATIONS.append(
    (
        12,
        "pipeline: run history per stage, a data version for exports, idempotent captures",
        """
        -- One row per `samdata run` (or watcher pass); its stages below. A run found 'running' by
        -- the next one (which holds the lock, so its process is gone) is marked 'killed'.
        CREATE TABLE pipeline_runs (
            id              INTEGER PRIMARY KEY,
            trigger         TEXT NOT NULL,                 -- cli | schedule | watch
            started_at      TEXT NOT NULL,
            ended_at        TEXT,
            status          TEXT NOT NULL,                 -- running | ok | failed | interrupted | killed
            pid             INTEGER,
            error           TEXT,                          -- one line: the stage and why
            changes         TEXT NOT NULL DEFAULT '{}',    -- JSON: what changed since the last run
            snapshot        TEXT                           -- JSON: the totals the next run compares with
        );
        CREATE TABLE pipeline_stages (
            run_id          INTEGER NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
            seq             INTEGER NOT NULL,
            stage           TEXT NOT NULL,                 -- scan | ingest | curate | export:NAME | train:NAME
            started_at      TEXT NOT NULL,
            ended_at        TEXT,
            status          TEXT NOT NULL,                 -- running | ok | skipped | failed | interrupted
            figures         TEXT NOT NULL DEFAULT '{}',    -- JSON
            error           TEXT,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID;
        -- Bumped by every transaction that changes what an export reads (examples, provenance,
        -- labels, verdicts, clusters, forget): an export whose recipe and data version are those of
        -- the last one is not written again.
        CREATE TABLE data_version (
            id              INTEGER PRIMARY KEY CHECK (id = 1),
            value           INTEGER NOT NULL
        );
        INSERT INTO data_version (id, value) VALUES (1, 1);
        -- What an export was written from (JSON: recipe digest, data version, samdata version).
        ALTER TABLE exports ADD COLUMN inputs TEXT;
        -- A capture's Idempotency-Key (or capture_id): a retry answers with the first answer.
        CREATE TABLE capture_requests (
            key             TEXT PRIMARY KEY,
            kind            TEXT NOT NULL,
            request_hash    TEXT NOT NULL,                 -- xxh3-128 of the canonical request
            example_id      TEXT NOT NULL,
            created_at      TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    )
)

# 13: the dashboard: full-text search over the bodies as curate redacted them, and review decisions.
MIGRATIONS.append(
    (
        13,
        "search index and review decisions",
        """
        -- rowid = examples.rowid; text = every 'content' string of the redacted body. Filled by
        -- curate once an example's secrets are labelled, so no secret is ever indexed in clear.
        CREATE VIRTUAL TABLE examples_fts USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
        -- One row per decision a person took in a review queue; the newest undone = 0 row of an item
        -- is in force. Curate and export read them (an allowed secret hash joins the allow-list).
        CREATE TABLE review_decisions (
            id              INTEGER PRIMARY KEY,
            queue           TEXT NOT NULL,                 -- secrets | ...
            item            TEXT NOT NULL,                 -- secrets: the finding hash
            decision        TEXT NOT NULL,                 -- secrets: confirm | allow | skip
            note            TEXT,
            decided_at      TEXT NOT NULL,
            undone          INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX review_decisions_by_item ON review_decisions(queue, item);
        """,
    )
)

# 14: facet filters of the dashboard's search read these sets by index, not by scanning every label.
MIGRATIONS.append(
    (
        14,
        "facet indexes",
        """
        CREATE INDEX attributes_language ON attributes(value ->> '$.lang') WHERE detector = 'language';
        CREATE INDEX attributes_category ON attributes(value ->> '$.category') WHERE detector = 'category';
        """,
    )
)

# 15: the search index keeps no copy of the text it indexes (it was a fifth of the catalog).
MIGRATIONS.append(
    (
        15,
        "contentless search index",
        """
        -- Contentless: only the inverted index is stored. Removing a row needs the text it was indexed
        -- with, which samdata recomputes from the body and redaction before either changes
        -- (catalog/search.py); the text itself is always readable from the examples' bodies.
        DROP TABLE examples_fts;
        -- detail=none: no positions (a third of the size, faster to write); search needs no phrases.
        CREATE VIRTUAL TABLE examples_fts USING fts5(
            text, content = '', detail = none, tokenize = 'unicode61 remove_diacritics 2'
        );
        INSERT INTO examples_fts (rowid, text)
            SELECT e.rowid, (SELECT group_concat(t.atom, char(10)) FROM json_tree(coalesce(r.body, e.body)) t
                             WHERE t.key = 'content' AND t.type = 'text')
            FROM examples e LEFT JOIN redactions r ON r.example_id = e.id
            WHERE e.forgotten = 0
              AND EXISTS (SELECT 1 FROM attributes s WHERE s.example_id = e.id AND s.detector = 'secrets');
        """,
    )
)

# 16: example bodies as zstd frames with a dictionary trained on the catalog's own bodies.
MIGRATIONS.append(
    (
        16,
        "compressed bodies",
        """
        -- examples.body: plain JSON (TEXT) or a zstd frame (BLOB) naming its dictionary here by
        -- zstd's own id; read either with the SQL function body_text(body) that every samdata
        -- connection has (samdata.catalog.connect(path) for a connection of your own).
        CREATE TABLE body_dicts (
            id              INTEGER PRIMARY KEY,           -- zstd's dictionary id, in every frame's header
            dict            BLOB NOT NULL,
            samples         INTEGER NOT NULL,              -- bodies it was trained on
            trained_at      TEXT NOT NULL
        );
        """,
    )
)

# 17: the band tables name examples by 64 bits of their id instead of 32 hex digits.
MIGRATIONS.append(
    (
        17,
        "short example ids in the LSH tables",
        """
        -- 50 -> ~20 bytes a row over ~20 rows per example (a quarter of the catalog). The keys are
        -- signed again by the next curate (its MinHash labels go); verified pairs and clusters stay.
        DROP TABLE lsh_index;
        DROP TABLE lsh_pending;
        CREATE TABLE lsh_index (
            key             INTEGER NOT NULL,              -- band << 32 | 32-bit hash of the band's rows
            example         INTEGER NOT NULL,              -- samdata.curate.neardup.short_id(example id)
            PRIMARY KEY (key, example)
        ) WITHOUT ROWID;
        CREATE TABLE lsh_pending (
            key             INTEGER NOT NULL,
            example         INTEGER NOT NULL
        );
        DELETE FROM attributes WHERE detector = 'minhash';
        """,
    )
)

# 18: each example's sources, one row per (example, source), kept by triggers on provenance.
MIGRATIONS.append(
    (
        18,
        "example sources",
        """
        -- The distinct (example, source) pairs the funnel, exports, facets and clustering read: a
        -- sort of every provenance row each time before (half the funnel's time). Triggers keep it
        -- equal to provenance whatever writes it.
        CREATE TABLE example_sources (
            example_id      TEXT NOT NULL,
            source          TEXT NOT NULL,
            PRIMARY KEY (example_id, source)
        ) WITHOUT ROWID;
        INSERT INTO example_sources (example_id, source)
            SELECT DISTINCT p.example_id, f.source FROM provenance p JOIN ingest_files f ON f.id = p.file_id;
        CREATE TRIGGER example_sources_add AFTER INSERT ON provenance BEGIN
            INSERT OR IGNORE INTO example_sources (example_id, source)
                SELECT new.example_id, source FROM ingest_files WHERE id = new.file_id;
        END;
        CREATE TRIGGER example_sources_drop AFTER DELETE ON provenance BEGIN
            DELETE FROM example_sources WHERE example_id = old.example_id
                AND source = (SELECT source FROM ingest_files WHERE id = old.file_id)
                AND NOT EXISTS (SELECT 1 FROM provenance p JOIN ingest_files f ON f.id = p.file_id
                                WHERE p.example_id = old.example_id AND f.source = example_sources.source);
        END;
        """,
    )
)

# 19: samdata voice: the recordings read, the clips cut from them, and what was dropped.
MIGRATIONS.append(
    (
        19,
        "voice",
        """
        -- One row per recording of a [[voice.sources]] glob, as last processed (status failed: reason).
        CREATE TABLE voice_files (
            id              INTEGER PRIMARY KEY,
            source          TEXT NOT NULL,                 -- [[voice.sources]] name
            path            TEXT NOT NULL,
            speaker         TEXT NOT NULL,
            content_hash    TEXT,                          -- xxh3-128 of the file's bytes
            codec           TEXT,
            rate            INTEGER,                       -- the recording's own sample rate
            channels        INTEGER,
            duration_s      REAL,
            status          TEXT NOT NULL,                 -- done | failed
            reason          TEXT,                          -- why it failed, for a person to act on
            pipeline        TEXT,                          -- samdata.voice's version and settings it was cut with
            processed_at    TEXT NOT NULL,
            UNIQUE (source, path)
        );
        -- Clips cut at pauses, with every check's figure and which checks failed.
        CREATE TABLE voice_clips (
            id              TEXT PRIMARY KEY,              -- xxh3-128 of (recording hash, start, end)
            file_id         INTEGER NOT NULL REFERENCES voice_files(id) ON DELETE CASCADE,
            speaker         TEXT NOT NULL,
            start_s         REAL NOT NULL,                 -- offsets in the recording
            end_s           REAL NOT NULL,
            figures         TEXT NOT NULL,                 -- JSON: figure name -> value
            failed          TEXT NOT NULL,                 -- JSON list of check names
            passed          INTEGER NOT NULL,
            fingerprint     BLOB
        ) WITHOUT ROWID;
        CREATE INDEX voice_clips_by_file ON voice_clips(file_id);
        -- Speech the segmenter did not make a clip of (too short to merge, ...): nothing vanishes.
        CREATE TABLE voice_dropped (
            file_id         INTEGER NOT NULL REFERENCES voice_files(id) ON DELETE CASCADE,
            start_s         REAL NOT NULL,
            end_s           REAL NOT NULL,
            reason          TEXT NOT NULL
        );
        CREATE INDEX voice_dropped_by_file ON voice_dropped(file_id);
        """,
    )
)

# 20: `samdata train --backend rvc`: runs on a voice package, not an export.
MIGRATIONS.append(
    (
        20,
        "voice training runs",
        """
        -- A run of an external voice trainer (backend rvc) on a `samdata voice package` folder has
        -- mode 'voice', no export (export_id NULL) and the package as data_dir. SQLite cannot change a
        -- CHECK, so training_runs is rebuilt. validation_log is set aside first, because dropping
        -- training_runs would delete its rows through ON DELETE CASCADE.
        CREATE TABLE validation_log_keep AS SELECT * FROM validation_log;
        DROP TABLE validation_log;
        CREATE TABLE training_runs_new (
            id              INTEGER PRIMARY KEY,
            backend         TEXT NOT NULL,                 -- mlx | trl | rvc
            mode            TEXT NOT NULL CHECK (mode IN ('sft', 'dpo', 'voice')),
            base_model      TEXT NOT NULL,                 -- a local folder; rvc: the command's program
            export_id       INTEGER REFERENCES exports(id),  -- NULL for a voice run
            data_dir        TEXT NOT NULL,                 -- the export folder, or the voice package
            job_dir         TEXT NOT NULL,
            config          TEXT NOT NULL,                 -- JSON: every setting the run used
            status          TEXT NOT NULL
                            CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
            pid             INTEGER,
            host            TEXT,
            created_at      TEXT NOT NULL,
            started_at      TEXT,
            finished_at     TEXT,
            error           TEXT,
            adapter_path    TEXT                           -- rvc: the folder the command wrote its model to
        );
        INSERT INTO training_runs_new (id, backend, mode, base_model, export_id, data_dir, job_dir, config,
                status, pid, host, created_at, started_at, finished_at, error, adapter_path)
            SELECT id, backend, mode, base_model, export_id, data_dir, job_dir, config, status, pid, host,
                created_at, started_at, finished_at, error, adapter_path FROM training_runs;
        DROP TABLE training_runs;
        ALTER TABLE training_runs_new RENAME TO training_runs;
        CREATE INDEX training_runs_by_export ON training_runs(export_id);
        CREATE TABLE validation_log (
            run_id          INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
            step            INTEGER NOT NULL,
            train_loss      REAL,
            valid_loss      REAL,
            tokens_per_second REAL,
            learning_rate   REAL,
            logged_at       TEXT NOT NULL,
            PRIMARY KEY (run_id, step)
        ) WITHOUT ROWID;
        INSERT INTO validation_log (run_id, step, train_loss, valid_loss, tokens_per_second, learning_rate,
                logged_at)
            SELECT run_id, step, train_loss, valid_loss, tokens_per_second, learning_rate, logged_at
            FROM validation_log_keep;
        DROP TABLE validation_log_keep;
        """,
    )
)

# 21: curate's labels in one row per example instead of one row per example and detector.
MIGRATIONS.append(
    (
        21,
        "one label row per example",
        """
        -- attributes held ~8 rows per example, each repeating the 32-digit id, the detector's name and
        -- a timestamp nobody read, plus an index over all of them: 40 % of the catalog, and the
        -- largest cost of curate's writes. Each detector is now a column: its JSON value and, for
        -- the detectors a setting can change, the version (settings folded in) it was computed by.
        -- NULL value: not computed. The neardup value exists for clustered examples only (its
        -- version is minhash's); verdict is kept or not, and why (samdata.curate.verdict).
        CREATE TABLE labels (
            example_id      TEXT PRIMARY KEY REFERENCES examples(id),
            secrets         TEXT,                          -- JSON list of finding kinds
            secrets_version INTEGER,
            quality         TEXT,                          -- JSON list of flags
            quality_version INTEGER,
            minhash         TEXT,                          -- {"shingles": N}
            minhash_version INTEGER,
            category        TEXT,                          -- {"category", "confidence", "by"} or null (not sft)
            category_version INTEGER,
            language        TEXT,                          -- {"lang", "p"[, "expected", "mismatch"]}
            language_version INTEGER,
            tokens          TEXT,                          -- {"tokens", "train_tokens"}
            tokens_version  INTEGER,
            neardup         TEXT,                          -- cluster: keeper_id, keeper, size, anchor, rule, runner_up
            verdict         TEXT                           -- {"kept", "reason"}
        ) WITHOUT ROWID;
        INSERT INTO labels
            SELECT example_id,
                max(CASE detector WHEN 'secrets' THEN value END), max(CASE detector WHEN 'secrets' THEN version END),
                max(CASE detector WHEN 'quality' THEN value END), max(CASE detector WHEN 'quality' THEN version END),
                max(CASE detector WHEN 'minhash' THEN value END), max(CASE detector WHEN 'minhash' THEN version END),
                max(CASE detector WHEN 'category' THEN value END), max(CASE detector WHEN 'category' THEN version END),
                max(CASE detector WHEN 'language' THEN value END), max(CASE detector WHEN 'language' THEN version END),
                max(CASE detector WHEN 'tokens' THEN value END), max(CASE detector WHEN 'tokens' THEN version END),
                max(CASE detector WHEN 'neardup' THEN value END), max(CASE detector WHEN 'verdict' THEN value END)
            FROM attributes GROUP BY example_id;
        DROP TABLE attributes;
        -- The dashboard's facet filters, and the clustered examples curate rewrites.
        CREATE INDEX labels_language ON labels(language ->> '$.lang');
        CREATE INDEX labels_category ON labels(category ->> '$.category');
        CREATE INDEX labels_clustered ON labels(example_id) WHERE neardup IS NOT NULL;
        """,
    )
)

# 22: curate re-clusters only the near-duplicate clusters something touched.
MIGRATIONS.append(
    (
        22,
        "near-duplicate clusters redone where they changed",
        """
        -- Examples whose cluster may have changed since curate last clustered: a new or dropped pair,
        -- or, for an example with pairs, what its keeper priority reads (sources, quality flags,
        -- first-ingest time, forgotten or deleted), and both ends of a keeper chosen or undone in review. Triggers fill
        -- it whatever writes the catalog; curate redoes the clusters reachable from these examples
        -- and then deletes the rows it read (seq <= the last it read).
        CREATE TABLE cluster_dirty (
            seq             INTEGER PRIMARY KEY,
            example_id      TEXT NOT NULL
        );
        -- The pairs of an example from either end: a cluster is found by walking them.
        CREATE INDEX neardup_pairs_by_b ON neardup_pairs(b);
        -- Band keys verified since lsh_index was last rewritten. A run's new keys land here, in a
        -- small B-tree, and join lsh_index in one sorted pass once they are an eighth of it: a run
        -- that adds 1 % no longer touches nearly every page of the index (0.6 s of a 1 GB catalog's
        -- second run). Candidates are looked up in both.
        CREATE TABLE lsh_recent (
            key             INTEGER NOT NULL,
            example         INTEGER NOT NULL,
            PRIMARY KEY (key, example)
        ) WITHOUT ROWID;
        -- The few forgotten examples: "is it live?" over every label, pair or source row is a probe
        -- of this small index instead of a read of the example's row, with its body, from the table
        -- (13x faster for the kept count over 274k labels).
        CREATE INDEX examples_forgotten ON examples(id) WHERE forgotten = 1;
        CREATE TRIGGER cluster_dirty_pair_add AFTER INSERT ON neardup_pairs BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (new.a), (new.b);
        END;
        CREATE TRIGGER cluster_dirty_pair_drop AFTER DELETE ON neardup_pairs BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (old.a), (old.b);
        END;
        CREATE TRIGGER cluster_dirty_source_add AFTER INSERT ON example_sources
            WHEN EXISTS (SELECT 1 FROM neardup_pairs WHERE a = new.example_id)
              OR EXISTS (SELECT 1 FROM neardup_pairs WHERE b = new.example_id) BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (new.example_id);
        END;
        CREATE TRIGGER cluster_dirty_source_drop AFTER DELETE ON example_sources
            WHEN EXISTS (SELECT 1 FROM neardup_pairs WHERE a = old.example_id)
              OR EXISTS (SELECT 1 FROM neardup_pairs WHERE b = old.example_id) BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (old.example_id);
        END;
        -- A labels row gets its first quality value before its example has any pair (pairs come
        -- from verifying the minhash value written with it), so only an update can move a flag
        -- count that a cluster read.
        CREATE TRIGGER cluster_dirty_flags AFTER UPDATE OF quality ON labels
            WHEN old.quality IS NOT new.quality
             AND (EXISTS (SELECT 1 FROM neardup_pairs WHERE a = new.example_id)
                  OR EXISTS (SELECT 1 FROM neardup_pairs WHERE b = new.example_id)) BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (new.example_id);
        END;
        -- Labels go with a forgotten or dropped example (and by hand): its cluster is redone.
        CREATE TRIGGER cluster_dirty_labels_drop AFTER DELETE ON labels WHEN old.neardup IS NOT NULL BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (old.example_id);
        END;
        CREATE TRIGGER cluster_dirty_example_change AFTER UPDATE OF forgotten, created_at ON examples
            WHEN (old.forgotten IS NOT new.forgotten OR old.created_at IS NOT new.created_at)
             AND (EXISTS (SELECT 1 FROM neardup_pairs WHERE a = new.id)
                  OR EXISTS (SELECT 1 FROM neardup_pairs WHERE b = new.id)) BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (new.id);
        END;
        CREATE TRIGGER cluster_dirty_example_drop AFTER DELETE ON examples
            WHEN EXISTS (SELECT 1 FROM neardup_pairs WHERE a = old.id)
              OR EXISTS (SELECT 1 FROM neardup_pairs WHERE b = old.id) BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (old.id);
        END;
        -- A keeper chosen in review ('keep:<id>'): the cluster's anchor (the item) and every example
        -- chosen for it, the one this decision supersedes included.
        CREATE TRIGGER cluster_dirty_keeper_add AFTER INSERT ON review_decisions
            WHEN new.queue = 'keepers' BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (new.item);
            INSERT INTO cluster_dirty (example_id)
                SELECT substr(decision, 6) FROM review_decisions WHERE queue = 'keepers' AND item = new.item;
        END;
        CREATE TRIGGER cluster_dirty_keeper_change AFTER UPDATE ON review_decisions
            WHEN old.queue = 'keepers' BEGIN
            INSERT INTO cluster_dirty (example_id) VALUES (old.item), (substr(old.decision, 6));
        END;
        """,
    )
)
