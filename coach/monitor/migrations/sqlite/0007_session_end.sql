-- How each session ended ('finished' or 'aborted', NULL while running or unknown) and why, from its
-- final state event: aborted sessions are shown as such and kept out of adherence. Backfilled from the
-- stored state events (their payload holds the state name as a JSON string).
ALTER TABLE coach_sessions ADD COLUMN end_state TEXT;
-- and the session a therapist command was bound to (an id, or 'next') and until when it is valid
ALTER TABLE commands ADD COLUMN session_id TEXT;
ALTER TABLE commands ADD COLUMN expires_at TEXT;
ALTER TABLE coach_sessions ADD COLUMN end_reason TEXT;
UPDATE coach_sessions SET end_state = 'aborted' WHERE EXISTS (SELECT 1 FROM events e WHERE e.patient_id = coach_sessions.patient_id AND e.session_id = coach_sessions.session_id AND e.type = 'state' AND e.payload LIKE '%"aborted"%');
UPDATE coach_sessions SET end_state = 'finished' WHERE end_state IS NULL AND EXISTS (SELECT 1 FROM events e WHERE e.patient_id = coach_sessions.patient_id AND e.session_id = coach_sessions.session_id AND e.type = 'state' AND e.payload LIKE '%"finished"%')
