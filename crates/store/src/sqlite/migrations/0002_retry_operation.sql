-- Retry state names the operation being retried and when it first failed, so a node
-- interrupted while waiting for a retry continues the same operation's retries, within the
-- same age limit, when its run resumes.
ALTER TABLE node_retries ADD COLUMN operation TEXT NOT NULL DEFAULT '';
ALTER TABLE node_retries ADD COLUMN first_failed_at_ms INTEGER;
