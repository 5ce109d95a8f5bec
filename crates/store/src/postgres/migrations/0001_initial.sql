-- The schema of a PostgreSQL store: the same tables as the SQLite backend's, plus what
-- several instances sharing one database need (`instances`, `leases`, `quota_sends`).
-- Times are milliseconds since the Unix epoch; JSON values are stored as text, exactly as
-- they were encoded.

-- Accepted trigger events. `id` grows in commit order for the events of one alert (their
-- inserts take a lock on the alert first), so it orders them.
CREATE TABLE inbox (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         TEXT    NOT NULL
                   CHECK (source IN ('live', 'backfill', 'webhook', 'cron', 'feed', 'timer')),
    account        TEXT    NOT NULL,
    alert_uuid     TEXT,
    dedup_key      TEXT    NOT NULL UNIQUE,
    payload        TEXT    NOT NULL,
    received_at_ms BIGINT  NOT NULL,
    done_at_ms     BIGINT,
    routed         BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX inbox_open ON inbox (id) WHERE done_at_ms IS NULL;
CREATE INDEX inbox_unrouted ON inbox (id) WHERE NOT routed;
CREATE INDEX inbox_keys_in_force ON inbox (received_at_ms)
    WHERE done_at_ms IS NOT NULL AND strpos(dedup_key, '#expired/') = 0;
CREATE INDEX inbox_done_by_arrival ON inbox (received_at_ms) WHERE done_at_ms IS NOT NULL;

-- Runs: `queued` until claimed and started, `running`, `waiting` for a destination
-- (`due_at_ms`, `waiting_on`), then `succeeded`, `failed` or `dead` (a dead letter, until
-- `dismissed_at_ms`). `claimed_by` names the instance whose claim holds the run; the claim
-- is void once that instance is gone (see `instances`). `ran_by` names the instance that
-- last started it, for people.
CREATE TABLE runs (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbox_id        BIGINT  NOT NULL REFERENCES inbox (id),
    playbook_id     TEXT    NOT NULL,
    trigger_node    TEXT    NOT NULL,
    alert_uuid      TEXT,
    status          TEXT    NOT NULL CHECK (status IN
                        ('queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled',
                         'dead')),
    queued_at_ms    BIGINT  NOT NULL,
    started_at_ms   BIGINT,
    ended_at_ms     BIGINT,
    error           TEXT,
    due_at_ms       BIGINT,
    waiting_on      TEXT,
    claimed_by      TEXT,
    ran_by          TEXT,
    interruptions   BIGINT  NOT NULL DEFAULT 0,
    rerun_of        BIGINT  REFERENCES runs (id),
    reuse_succeeded BOOLEAN NOT NULL DEFAULT FALSE,
    dismissed_at_ms BIGINT,
    alert_account   TEXT,
    alert_short_id  TEXT,
    alert_title     TEXT,
    alert_urgency   BIGINT
);
CREATE INDEX runs_open ON runs (id) WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX runs_open_by_alert ON runs (alert_uuid, playbook_id, id)
    WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX runs_by_event ON runs (inbox_id);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_playbook ON runs (playbook_id, id);
CREATE INDEX runs_by_alert ON runs (alert_uuid, id);
CREATE INDEX runs_by_alert_short_id ON runs (alert_short_id, id)
    WHERE alert_short_id IS NOT NULL;
CREATE INDEX runs_dead_letters ON runs (id) WHERE status = 'dead' AND dismissed_at_ms IS NULL;
CREATE INDEX runs_waiting_on ON runs (waiting_on) WHERE status = 'waiting';
CREATE INDEX runs_finished_by_end ON runs (ended_at_ms)
    WHERE status IN ('succeeded', 'failed', 'cancelled', 'dead');
CREATE INDEX runs_rerun_of ON runs (rerun_of) WHERE rerun_of IS NOT NULL;

-- Node runs keyed by (run, seq): `record` is the engine's NodeRecord as JSON, the other
-- columns repeat what queries filter on.
CREATE TABLE node_runs (
    run_id        BIGINT NOT NULL REFERENCES runs (id),
    seq           BIGINT NOT NULL,
    node_id       TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    status        TEXT   NOT NULL
                  CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped',
                                    'waiting')),
    started_at_ms BIGINT NOT NULL,
    ended_at_ms   BIGINT,
    error         TEXT,
    record        TEXT   NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Delivery retry state of node runs.
CREATE TABLE node_retries (
    run_id             BIGINT NOT NULL REFERENCES runs (id),
    seq                BIGINT NOT NULL,
    node_id            TEXT   NOT NULL,
    attempts           BIGINT NOT NULL,
    next_attempt_at_ms BIGINT,
    last_error         TEXT,
    updated_at_ms      BIGINT NOT NULL,
    operation          TEXT   NOT NULL DEFAULT '',
    first_failed_at_ms BIGINT,
    PRIMARY KEY (run_id, seq)
);

-- Positions triggers resume from.
CREATE TABLE checkpoints (
    key           TEXT   PRIMARY KEY,
    value         TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- Consecutive technical failures per playbook, and why it was disabled.
CREATE TABLE playbook_health (
    playbook_id          TEXT   PRIMARY KEY,
    consecutive_failures BIGINT NOT NULL,
    last_error           TEXT,
    disabled_reason      TEXT,
    disabled_at_ms       BIGINT,
    updated_at_ms        BIGINT NOT NULL
);

-- The ids other systems gave to Sekoia.io alerts (ilert's alert id).
CREATE TABLE alert_links (
    system       TEXT   NOT NULL,
    remote_id    TEXT   NOT NULL,
    alert_uuid   TEXT   NOT NULL,
    linked_at_ms BIGINT NOT NULL,
    PRIMARY KEY (system, remote_id)
);

-- The instances that opened the store. An instance is alive while the session that holds
-- its advisory lock (class 1, key `lock_key`, chosen at random) lives: PostgreSQL releases
-- the lock the moment that session ends, so the claims of a killed instance are void at
-- once, and those of an unreachable one once the server gives up on its connection (TCP
-- keepalives).
CREATE TABLE instances (
    id            TEXT   PRIMARY KEY,
    lock_key      INTEGER NOT NULL UNIQUE CHECK (lock_key > 0),
    host          TEXT   NOT NULL,
    pid           BIGINT NOT NULL,
    label         TEXT   NOT NULL,
    started_at_ms BIGINT NOT NULL,
    seen_at_ms    BIGINT NOT NULL
);

-- Leases: work only one instance of the cluster does (the live connection of a Sekoia.io
-- account). The lease is an advisory lock (class 2, key `hashtext(name)`) held by the
-- holder's session; this table names its last holder for people.
CREATE TABLE leases (
    name           TEXT   PRIMARY KEY,
    holder         TEXT   NOT NULL,
    acquired_at_ms BIGINT NOT NULL
);

-- Requests counted against a per-minute quota shared by the cluster (ilert: 50 events a
-- minute per integration key).
CREATE TABLE quota_sends (
    slot       TEXT   NOT NULL,
    sent_at_ms BIGINT NOT NULL
);
CREATE INDEX quota_sends_by_slot ON quota_sends (slot, sent_at_ms);

-- The instances whose session still holds their lock: only their claims and leases count.
CREATE VIEW live_instances AS
SELECT i.* FROM instances i
WHERE EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1 AND l.objsubid = 2
      AND l.objid = i.lock_key::oid
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()));
