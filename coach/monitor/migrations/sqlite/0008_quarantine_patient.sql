-- The patient a quarantined message was about (the <p> of its coach/v1/<p>/... topic, NULL when the
-- topic names none), so a patient's data export and erasure (clinic/patient_data.py, which finds
-- every table with a patient_id column) cover the quarantine too. Keep in step with ../postgresql/.
ALTER TABLE quarantine ADD COLUMN patient_id TEXT;
UPDATE quarantine SET patient_id = substr(topic, 10, instr(substr(topic, 10), '/') - 1)
    WHERE topic LIKE 'coach/v1/%/%' AND instr(substr(topic, 10), '/') > 1;
CREATE INDEX quarantine_by_patient ON quarantine (patient_id)
