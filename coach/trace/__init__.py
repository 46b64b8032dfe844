"""`coach-trace` v1 files: streaming and whole-file readers, a writer, and the ``meta`` object."""

from coach.trace.meta import Body, SensorInfo, TraceMeta
from coach.trace.reader import (
    FORMAT_VERSION,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    Trace,
    TraceChunk,
    TraceHeader,
    TraceReader,
    open_trace,
    read_trace,
)
from coach.trace.writer import TraceWriter, write_trace

__all__ = [
    "FORMAT_VERSION",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Body",
    "SensorInfo",
    "Trace",
    "TraceChunk",
    "TraceHeader",
    "TraceMeta",
    "TraceReader",
    "TraceWriter",
    "open_trace",
    "read_trace",
    "write_trace",
]
