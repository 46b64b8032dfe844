"""Exports that run on the coach's machine, where the raw traces are: Motion-BIDS datasets for
research (:mod:`coach.export.bids`) and a patient's local files for their data rights
(:mod:`coach.export.patient_files`)."""
