"""Gyroscope bias, gravity reference and sensor-to-segment alignment from the session's calibration phases."""
