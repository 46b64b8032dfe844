"""Live sessions: screening → calibrating → active ⇄ paused → finished | aborted, with recording,
therapist commands over MQTT and the live terminal view (docs/live-sessions.md)."""
