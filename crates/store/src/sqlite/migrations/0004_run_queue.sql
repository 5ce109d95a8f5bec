-- Runs become the unit of scheduling. An event queues its runs (one per playbook trigger
-- it fires) when it is stored; the runs carry the claims, the order per alert and
-- playbook, the holds (waiting for a destination, or for a disabled playbook) and the
-- dead letters. An event is done when its last run ends.
--
-- Events stored by an older build that were still open keep `routed = 0`: the service
-- works out their runs at its next start (`Store::unrouted_events`).
--
-- Webhook and cron events named their playbook and trigger node in columns; that target
-- moves into the payload, where the event's kind describes it.
UPDATE inbox
SET payload = json_set(payload, '$.playbook_id', playbook_id, '$.trigger_node', trigger_node)
WHERE playbook_id IS NOT NULL AND trigger_node IS NOT NULL AND json_valid(payload);

CREATE TABLE inbox_v4 (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    source         TEXT    NOT NULL CHECK (source IN ('live', 'backfill', 'webhook', 'cron')),
    account        TEXT    NOT NULL,
    alert_uuid     TEXT,
    dedup_key      TEXT    NOT NULL UNIQUE,
    payload        TEXT    NOT NULL,
    received_at_ms INTEGER NOT NULL,
    done_at_ms     INTEGER,
    routed         INTEGER NOT NULL DEFAULT 1 CHECK (routed IN (0, 1))
);
INSERT INTO inbox_v4 (id, source, account, alert_uuid, dedup_key, payload, received_at_ms,
                      done_at_ms, routed)
SELECT id, source, account, alert_uuid, dedup_key, payload, received_at_ms, done_at_ms,
       done_at_ms IS NOT NULL
FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_v4 RENAME TO inbox;
CREATE INDEX inbox_open ON inbox (id) WHERE done_at_ms IS NULL;
CREATE INDEX inbox_unrouted ON inbox (id) WHERE routed = 0;
CREATE INDEX inbox_keys_in_force ON inbox (received_at_ms)
    WHERE done_at_ms IS NOT NULL AND instr(dedup_key, '#expired/') = 0;

-- A run is `queued` until it starts, `running`, `waiting` while a destination it delivers
-- to fails transiently (`due_at_ms`, `waiting_on`), then `succeeded`, `failed` or `dead`
-- (a dead letter, until `dismissed_at_ms`). `claimed_by` names the store instance working
-- on it; `interruptions` counts the times an instance stopped uncleanly while running it.
CREATE TABLE runs_v4 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id        INTEGER NOT NULL REFERENCES inbox (id),
    playbook_id     TEXT    NOT NULL,
    trigger_node    TEXT    NOT NULL,
    alert_uuid      TEXT,
    status          TEXT    NOT NULL CHECK (status IN
                        ('queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled',
                         'dead')),
    queued_at_ms    INTEGER NOT NULL,
    started_at_ms   INTEGER,
    ended_at_ms     INTEGER,
    error           TEXT,
    due_at_ms       INTEGER,
    waiting_on      TEXT,
    claimed_by      TEXT,
    interruptions   INTEGER NOT NULL DEFAULT 0,
    rerun_of        INTEGER REFERENCES runs_v4 (id),
    reuse_succeeded INTEGER NOT NULL DEFAULT 0 CHECK (reuse_succeeded IN (0, 1)),
    dismissed_at_ms INTEGER
);
INSERT INTO runs_v4 (id, inbox_id, playbook_id, trigger_node, alert_uuid, status,
                     queued_at_ms, started_at_ms, ended_at_ms, error)
SELECT id, inbox_id, playbook_id, trigger_node, alert_uuid, status, started_at_ms,
       started_at_ms, ended_at_ms, error
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_open ON runs (id) WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX runs_open_by_alert ON runs (alert_uuid, playbook_id, id)
    WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX runs_by_event ON runs (inbox_id);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_playbook ON runs (playbook_id, id);
CREATE INDEX runs_by_alert ON runs (alert_uuid, id);
CREATE INDEX runs_dead_letters ON runs (id) WHERE status = 'dead' AND dismissed_at_ms IS NULL;
CREATE INDEX runs_waiting_on ON runs (waiting_on) WHERE status = 'waiting';

-- Node runs may now be `waiting` (a delivery held for its next attempt).
CREATE TABLE node_runs_v4 (
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    seq           INTEGER NOT NULL,
    node_id       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    status        TEXT    NOT NULL
                  CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped',
                                    'waiting')),
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    error         TEXT,
    record        TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
INSERT INTO node_runs_v4 SELECT * FROM node_runs;
DROP TABLE node_runs;
ALTER TABLE node_runs_v4 RENAME TO node_runs;
CREATE INDEX node_runs_by_status ON node_runs (status);
