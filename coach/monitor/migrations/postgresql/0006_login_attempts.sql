-- Login attempts (coach/monitor/security.py): one row per attempt, 'pending' while its password is
-- being checked (so concurrent attempts count), then 'failed' (a success deletes it). key:
-- 'p:<lower-case user name> <client address>' (the pair) or 'r:<client address>'. Replaces the
-- per-name count of login_failures, which let strangers lock a therapist out.
DROP TABLE login_failures;
CREATE TABLE login_attempts (
    key TEXT NOT NULL,
    attempt_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at_unix_s DOUBLE PRECISION NOT NULL
);
CREATE INDEX login_attempts_by_key ON login_attempts (key, at_unix_s);
CREATE INDEX login_attempts_by_time ON login_attempts (at_unix_s);
CREATE INDEX login_attempts_by_id ON login_attempts (attempt_id);
