-- The ids other systems gave to Sekoia.io alerts: ilert answers a delivery with the id of
-- the alert it opened, and its webhook later names that id. One row per (system, remote
-- id); a later link for the same remote id replaces the earlier one.
CREATE TABLE alert_links (
    system       TEXT    NOT NULL,
    remote_id    TEXT    NOT NULL,
    alert_uuid   TEXT    NOT NULL,
    linked_at_ms INTEGER NOT NULL,
    PRIMARY KEY (system, remote_id)
) WITHOUT ROWID;
