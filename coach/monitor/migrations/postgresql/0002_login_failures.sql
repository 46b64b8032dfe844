-- Failed logins, kept in the database so that every monitor instance behind a load balancer counts
-- the same ones (coach/monitor/security.py). key: 'u:<lower-case user name>' or 'r:<client address>'.
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at_unix_s DOUBLE PRECISION NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (key, at_unix_s);
CREATE INDEX login_failures_by_time ON login_failures (at_unix_s);
