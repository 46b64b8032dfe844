"""Benchmarks: accuracy, speed and memory, clock alignment, live latency, monitor scale."""
