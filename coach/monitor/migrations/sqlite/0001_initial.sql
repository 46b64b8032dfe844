-- Monitor schema v1 (SQLite). Keep in step with ../postgresql/0001_initial.sql: same tables, columns, keys.
CREATE TABLE therapists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_unix_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE patients (
    patient_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    enrolment_secret TEXT,
    sessions_per_day INTEGER NOT NULL DEFAULT 1,
    created_unix_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE assignments (
    therapist_id INTEGER NOT NULL REFERENCES therapists (id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    PRIMARY KEY (therapist_id, patient_id)
);
CREATE TABLE coach_sessions (
    patient_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_received_unix_s DOUBLE PRECISION NOT NULL,
    last_received_unix_s DOUBLE PRECISION NOT NULL,
    start_unix_s DOUBLE PRECISION,
    summary TEXT,
    PRIMARY KEY (patient_id, session_id)
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    t_s DOUBLE PRECISION NOT NULL,
    elevated INTEGER,
    direction TEXT,
    payload TEXT NOT NULL,
    received_unix_s DOUBLE PRECISION NOT NULL,
    stored_unix_s DOUBLE PRECISION NOT NULL,
    UNIQUE (patient_id, session_id, event_id)
);
CREATE INDEX events_by_type_t ON events (patient_id, session_id, type, t_s);
CREATE INDEX events_by_stored ON events (patient_id, session_id, stored_unix_s);
CREATE INDEX events_reports ON events (type, patient_id);
CREATE TABLE statuses (
    patient_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    session_id TEXT,
    payload TEXT NOT NULL,
    status_unix_s DOUBLE PRECISION NOT NULL,
    received_unix_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE targets (
    patient_id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_unix_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE commands (
    cmd_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    cmd TEXT NOT NULL,
    args TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    by_user TEXT NOT NULL,
    published_unix_s DOUBLE PRECISION NOT NULL
);
CREATE INDEX commands_by_patient ON commands (patient_id, published_unix_s);
CREATE TABLE cmd_results (
    cmd_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    ok INTEGER NOT NULL,
    reason TEXT,
    received_unix_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_unix_s DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    patient_id TEXT,
    detail TEXT,
    remote TEXT
);
CREATE INDEX audit_by_patient ON audit_log (patient_id, at_unix_s);
CREATE TABLE web_sessions (
    token_sha256 TEXT PRIMARY KEY,
    therapist_id INTEGER NOT NULL REFERENCES therapists (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_unix_s DOUBLE PRECISION NOT NULL,
    last_seen_unix_s DOUBLE PRECISION NOT NULL,
    expires_unix_s DOUBLE PRECISION NOT NULL
);
