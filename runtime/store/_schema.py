"""The SQLite schema of the embedded store (created on open; additive changes only)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL,            -- pending (not routed yet) | routed
    routed_at TEXT,
    runs_created INTEGER,
    UNIQUE (source, id)             -- the CloudEvents duplicate key
);
CREATE INDEX IF NOT EXISTS events_pending ON events(state, seq);

CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    flow_hash TEXT NOT NULL,        -- the pinned flow version
    flow_version TEXT NOT NULL,
    run_key TEXT,                   -- JSON text of the business key
    key_json TEXT,
    event_seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    finished_ts REAL,
    wake_at REAL,
    owner TEXT,
    lease_until REAL,
    error TEXT,
    error_code TEXT,
    output TEXT,
    sla_deadline REAL,
    sla_breached INTEGER NOT NULL DEFAULT 0,
    replays INTEGER NOT NULL DEFAULT 0,
    variant TEXT                    -- the variant the event selected, if any
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_per_key ON runs(flow, run_key) WHERE run_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_runnable ON runs(status, wake_at);

CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    finished_at TEXT,
    duration_ms REAL,
    wake_at REAL,
    detail TEXT,
    seq INTEGER NOT NULL,
    PRIMARY KEY (run_id, generation, label)
);

CREATE TABLE IF NOT EXISTS waits (
    run_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    label TEXT NOT NULL,
    event_type TEXT NOT NULL,
    match TEXT NOT NULL,
    correlation TEXT,
    deadline REAL,
    PRIMARY KEY (run_id, generation, label)
);
CREATE INDEX IF NOT EXISTS waits_by_type ON waits(event_type);

CREATE TABLE IF NOT EXISTS flow_versions (
    hash TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    version TEXT NOT NULL,
    files BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    at TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_run ON audit(run_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""

SCHEMA += """
CREATE TABLE IF NOT EXISTS schedules (
    flow TEXT PRIMARY KEY,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    next_fire REAL NOT NULL,        -- unix seconds
    last_fire REAL                  -- the scheduled time of the last run started
);
"""

SCHEMA += """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,          -- <connector>.<source>
    cursor TEXT,                    -- JSON: the watermark of the last row taken in
    next_poll REAL NOT NULL DEFAULT 0,
    last_poll REAL,
    polls INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    rejects INTEGER NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS source_items (  -- whole inputs taken in (a file name and its digest)
    source TEXT NOT NULL,
    item TEXT NOT NULL,
    events INTEGER NOT NULL,
    rejects INTEGER NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (source, item)
);
CREATE TABLE IF NOT EXISTS source_rejects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    item TEXT,
    location TEXT NOT NULL,
    message TEXT NOT NULL,
    raw TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS source_rejects_by_source ON source_rejects(source, seq);
"""
