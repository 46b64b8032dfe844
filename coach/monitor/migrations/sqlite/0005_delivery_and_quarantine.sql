-- End-to-end delivery (docs/mqtt.md): the coach's per-session delivery number of each event, so the
-- monitor can publish how far it has stored each session (coach/v1/<p>/stored).
ALTER TABLE events ADD COLUMN delivery_seq INTEGER;
CREATE INDEX events_by_delivery ON events (patient_id, session_id, delivery_seq);
-- Messages that failed validation or storage: acknowledged, logged once, kept here for a maintainer
-- (`coach monitor quarantine`), never delivered again. Payload as received (first 64 KiB).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_unix_s DOUBLE PRECISION NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_bytes INTEGER NOT NULL
);
CREATE INDEX quarantine_by_time ON quarantine (received_unix_s);
