-- Clinic fit (coach/monitor/clinic/). Keep in step with ../postgresql/0010_clinic.sql.
-- No foreign keys on purpose: the tables are erased by patient id (clinic/patient_data.py) and
-- TRUNCATE of the core tables must keep working without CASCADE.

-- Written so that applying it again changes nothing (a test rolls schema_version back). The audit
-- chain's columns and triggers come with the Python step 11 (coach/monitor/clinic/audit_chain.py).
CREATE TABLE IF NOT EXISTS audit_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    retention_days INTEGER NOT NULL,
    anchor_id BIGINT,
    anchor_sha256 TEXT
);
INSERT INTO audit_settings (id, retention_days) VALUES (1, 2192) ON CONFLICT (id) DO NOTHING;

-- Remote therapeutic monitoring accounting (rtm.py).
CREATE TABLE IF NOT EXISTS rtm_enrolments (
    patient_id TEXT PRIMARY KEY,
    start_date TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_unix_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS rtm_time_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL,
    therapist TEXT NOT NULL,
    service_date TEXT NOT NULL,
    minutes INTEGER NOT NULL CHECK (minutes > 0 AND minutes <= 600),
    interactive INTEGER NOT NULL,
    note TEXT NOT NULL,
    logged_unix_s DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS rtm_time_by_patient ON rtm_time_entries (patient_id, service_date);

-- Clinic sign-in with OpenID Connect (oidc.py).
CREATE TABLE IF NOT EXISTS oidc_providers (
    name TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_unix_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS oidc_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    therapist_id BIGINT NOT NULL,
    created_unix_s DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE TABLE IF NOT EXISTS oidc_logins (
    state_sha256 TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    next_path TEXT NOT NULL,
    created_unix_s DOUBLE PRECISION NOT NULL
)
