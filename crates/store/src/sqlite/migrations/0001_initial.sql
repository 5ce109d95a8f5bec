-- The first schema: inbox, runs, node runs, retry state, checkpoints, playbook health.
-- Times are milliseconds since the Unix epoch; JSON values are stored as text.

-- Accepted trigger events. `id` grows in arrival order and is never reused (AUTOINCREMENT),
-- so it orders the events of one alert. An event is open until `done_at_ms` is set; it is
-- claimed by the store instance named in `claimed_by`.
CREATE TABLE inbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    source         TEXT    NOT NULL CHECK (source IN ('live', 'backfill', 'webhook', 'cron')),
    account        TEXT    NOT NULL,
    playbook_id    TEXT,
    trigger_node   TEXT,
    alert_uuid     TEXT,
    dedup_key      TEXT    NOT NULL UNIQUE,
    payload        TEXT    NOT NULL,
    received_at_ms INTEGER NOT NULL,
    claimed_by     TEXT,
    claimed_at_ms  INTEGER,
    done_at_ms     INTEGER
);
CREATE INDEX inbox_open ON inbox (id) WHERE done_at_ms IS NULL;
CREATE INDEX inbox_open_by_alert ON inbox (alert_uuid, id) WHERE done_at_ms IS NULL;

-- One run per inbox event and playbook. `alert_uuid` is copied from the event for queries.
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id      INTEGER NOT NULL REFERENCES inbox (id),
    playbook_id   TEXT    NOT NULL,
    trigger_node  TEXT    NOT NULL,
    alert_uuid    TEXT,
    status        TEXT    NOT NULL
                  CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    error         TEXT,
    UNIQUE (inbox_id, playbook_id)
);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_playbook ON runs (playbook_id, id);
CREATE INDEX runs_by_alert ON runs (alert_uuid, id);

-- Node runs keyed by (run, seq): `record` is the engine's NodeRecord as JSON, the other
-- columns repeat what queries filter on.
CREATE TABLE node_runs (
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    seq           INTEGER NOT NULL,
    node_id       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    status        TEXT    NOT NULL
                  CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    error         TEXT,
    record        TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX node_runs_by_status ON node_runs (status);

-- Delivery retry state of node runs.
CREATE TABLE node_retries (
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    seq                INTEGER NOT NULL,
    node_id            TEXT    NOT NULL,
    attempts           INTEGER NOT NULL,
    next_attempt_at_ms INTEGER,
    last_error         TEXT,
    updated_at_ms      INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Positions triggers resume from.
CREATE TABLE checkpoints (
    key           TEXT    PRIMARY KEY,
    value         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Consecutive technical failures per playbook, and why it was disabled.
CREATE TABLE playbook_health (
    playbook_id          TEXT    PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL,
    last_error           TEXT,
    disabled_reason      TEXT,
    disabled_at_ms       INTEGER,
    updated_at_ms        INTEGER NOT NULL
) WITHOUT ROWID;
