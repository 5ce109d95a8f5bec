-- The alert a run is about, as the run read it from Sekoia.io when it started: the
-- account it was read through, its short id, title and urgency. Runs are listed and found
-- by them (by short id: indexed); the trigger node's output has no title (Sekoia.io's
-- alert triggers give none), and a Manual Trigger's has only the uuid.
ALTER TABLE runs ADD COLUMN alert_account TEXT;
ALTER TABLE runs ADD COLUMN alert_short_id TEXT;
ALTER TABLE runs ADD COLUMN alert_title TEXT;
ALTER TABLE runs ADD COLUMN alert_urgency INTEGER;
CREATE INDEX runs_by_alert_short_id ON runs (alert_short_id, id)
    WHERE alert_short_id IS NOT NULL;

-- Runs recorded before: what their alert trigger output (node run 0) says, and the account
-- of their event, so that they are found by short id too.
UPDATE runs SET
    alert_account = (SELECT account FROM inbox WHERE inbox.id = runs.inbox_id),
    alert_short_id = (
        SELECT json_extract(n.record, '$.results.short_id') FROM node_runs n
        WHERE n.run_id = runs.id AND n.seq = 0 AND json_valid(n.record)
          AND json_type(n.record, '$.results.short_id') = 'text'),
    alert_urgency = (
        SELECT json_extract(n.record, '$.results.urgency') FROM node_runs n
        WHERE n.run_id = runs.id AND n.seq = 0 AND json_valid(n.record)
          AND json_type(n.record, '$.results.urgency') = 'integer')
WHERE alert_uuid IS NOT NULL;
