"""MQTT for the coach: topics, on-disk spool, reliable publisher, signed therapist commands,
the embedded broker and broker configuration (docs/design.md §7, §8; docs/mqtt.md)."""
