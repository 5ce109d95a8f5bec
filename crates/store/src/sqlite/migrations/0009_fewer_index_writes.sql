-- Indexes: those that cost a write per alert and served no query or served it badly, one
-- that was missing, and conditions SQLite evaluates without temporary tables.
--
-- node_runs_by_status: no query reads node runs by status, and every node record written
-- (several per run) moved its entry.
DROP INDEX node_runs_by_status;

-- Done events were in two indexes by arrival: one for the expiry of dedup keys (keys in
-- force), one for retention (every done event). Retention removes only done events whose
-- key no longer counts: webhook and cron events, and expired keys. Its index now holds
-- just those, so an alert's event, once done, enters one index instead of two; it moves
-- to the second when its key expires, away from the path of new alerts. The condition
-- is written without an `IN` list, which SQLite evaluates through a temporary table at
-- every row written.
DROP INDEX inbox_done_by_arrival;
CREATE INDEX inbox_prunable ON inbox (received_at_ms)
    WHERE done_at_ms IS NOT NULL
      AND (source = 'webhook' OR source = 'cron' OR instr(dedup_key, '#expired/') > 0);

-- Removing a run clears `rerun_of` in the runs that point to it: without an index, each
-- removed run scanned the whole runs table, so pruning 500 runs of a large store held the
-- write lock for 500 scans while new events waited. Few runs are reruns, and only they
-- are in this index.
CREATE INDEX runs_rerun_of ON runs (rerun_of) WHERE rerun_of IS NOT NULL;

-- The partial indexes of runs by status, written again with comparisons instead of `IN`
-- lists: SQLite evaluated each list through a temporary table built at every insert of a
-- run and twice at every update (old row and new), six times for a run's end. Their
-- queries state the same conditions.
DROP INDEX runs_open;
CREATE INDEX runs_open ON runs (id)
    WHERE status = 'queued' OR status = 'running' OR status = 'waiting';
DROP INDEX runs_open_by_alert;
CREATE INDEX runs_open_by_alert ON runs (alert_uuid, playbook_id, id)
    WHERE status = 'queued' OR status = 'running' OR status = 'waiting';
DROP INDEX runs_finished_by_end;
CREATE INDEX runs_finished_by_end ON runs (ended_at_ms)
    WHERE status = 'succeeded' OR status = 'failed' OR status = 'cancelled' OR status = 'dead';
