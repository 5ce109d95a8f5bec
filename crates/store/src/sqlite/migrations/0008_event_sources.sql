-- Two more kinds of event: `feed` (a page of an intelligence feed, read by a feed trigger)
-- and `timer` (a trigger's own timer: Alert Events Threshold's time window). The source
-- column's CHECK lists them, so the table is built again with the new list.
CREATE TABLE inbox_v8 (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    source         TEXT    NOT NULL
                   CHECK (source IN ('live', 'backfill', 'webhook', 'cron', 'feed', 'timer')),
    account        TEXT    NOT NULL,
    alert_uuid     TEXT,
    dedup_key      TEXT    NOT NULL UNIQUE,
    payload        TEXT    NOT NULL,
    received_at_ms INTEGER NOT NULL,
    done_at_ms     INTEGER,
    routed         INTEGER NOT NULL DEFAULT 1 CHECK (routed IN (0, 1))
);
INSERT INTO inbox_v8 (id, source, account, alert_uuid, dedup_key, payload, received_at_ms,
                      done_at_ms, routed)
SELECT id, source, account, alert_uuid, dedup_key, payload, received_at_ms, done_at_ms, routed
FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_v8 RENAME TO inbox;
CREATE INDEX inbox_open ON inbox (id) WHERE done_at_ms IS NULL;
CREATE INDEX inbox_unrouted ON inbox (id) WHERE routed = 0;
CREATE INDEX inbox_keys_in_force ON inbox (received_at_ms)
    WHERE done_at_ms IS NOT NULL AND instr(dedup_key, '#expired/') = 0;
CREATE INDEX inbox_done_by_arrival ON inbox (received_at_ms) WHERE done_at_ms IS NOT NULL;
