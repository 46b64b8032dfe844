"""What a clinic needs around the monitor: remote-monitoring accounting, FHIR export, sign-in through the
clinic's identity provider (OpenID Connect), patients' data rights and the hash-chained audit log.

The web routes are registered by :func:`coach.monitor.clinic.routes.register`; the admin commands live
in :mod:`coach.cli.monitor_clinic`. See docs/monitor.md (*Clinic*).
"""
