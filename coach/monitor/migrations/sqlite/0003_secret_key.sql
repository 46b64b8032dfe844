-- The key check of the server key that encrypts enrolment secrets (coach/monitor/secret_box.py): an
-- HMAC of a fixed text under the key, so instances with different keys are refused. Never the key.
CREATE TABLE secret_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_id TEXT NOT NULL,
    created_unix_s DOUBLE PRECISION NOT NULL
);
