"""Simulated BLE: devices of every supported profile behind a bleak backend, a radio delivery model with
fault injection, and motion sources that drive the simulated sensors."""
