-- Retention: finished runs by end time and done events by arrival, so that pruning reads
-- only what it removes.
CREATE INDEX runs_finished_by_end ON runs (ended_at_ms)
    WHERE status IN ('succeeded', 'failed', 'cancelled', 'dead');
CREATE INDEX inbox_done_by_arrival ON inbox (received_at_ms) WHERE done_at_ms IS NOT NULL;
