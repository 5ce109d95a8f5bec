-- Dedup keys of done events expire (`Store::expire_dedup_keys`): the key is renamed to
-- `<key>#expired/<id>`, so a later event with the same key is new. This index finds the
-- keys still in force by arrival time.
CREATE INDEX inbox_keys_in_force ON inbox (received_at_ms)
    WHERE done_at_ms IS NOT NULL AND instr(dedup_key, '#expired/') = 0;
