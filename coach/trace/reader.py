"""Readers for `coach-trace` v1 files (docs/design.md §7).

Two ways in, one parser underneath:

- :func:`open_trace` streams: it yields :class:`TraceChunk` s of at most ``rows`` rows in file order,
  so memory stays flat on hour-long traces and a live tool can follow a growing file.
- :func:`read_trace` loads a whole file into one :class:`SampleBlock` per role.

Lines come from :class:`~coach.trace.lines.LineSource` (bounded line lengths, exact line numbers);
rows are parsed and checked in batches by :mod:`coach.trace.rows`. All good rows before a bad line are
yielded before :class:`~coach.errors.TraceFormatError` is raised, so nothing good is lost. Every limit
(line length, ``meta`` nesting, time and value ranges) is in :mod:`coach.trace.limits`; a file outside
them is an error naming its line, never a traceback or a hang.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coach.errors import TraceFormatError
from coach.samples import ROLES, SampleBlock
from coach.trace.limits import MAX_BATCH_CHARS, MAX_HEADER_LINE_CHARS, MAX_META_DEPTH, MAX_ROW_CHARS
from coach.trace.lines import LineError, LineSource, open_binary
from coach.trace.meta import TraceMeta
from coach.trace.rows import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, TraceChunk, parse_rows

FORMAT_NAME = "coach-trace"
FORMAT_VERSION = 1
DEFAULT_CHUNK_ROWS = 65536

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Trace",
    "TraceChunk",
    "TraceHeader",
    "TraceReader",
    "open_trace",
    "read_trace",
]


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """What precedes the rows: version, ``meta`` and the column names (in file order).

    ``header_line`` is the line of the column names, ``meta_line`` the line of ``meta`` (``None``
    when the file has none).
    """

    path: str
    version: int
    meta: TraceMeta
    columns: tuple[str, ...]
    header_line: int
    meta_line: int | None = None

    @property
    def has_mag(self) -> bool:
        return all(c in self.columns for c in ("mx", "my", "mz"))

    @property
    def has_pressure(self) -> bool:
        return "pressure" in self.columns


@dataclass(slots=True)
class Trace:
    """A whole trace in memory: its header and one block per role present."""

    header: TraceHeader
    blocks: dict[str, SampleBlock] = field(default_factory=dict)

    @property
    def meta(self) -> TraceMeta:
        return self.header.meta

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES if r in self.blocks]

    @property
    def duration_s(self) -> float:
        ends = [float(b.t_s[-1]) for b in self.blocks.values() if len(b)]
        return max(ends) if ends else 0.0


class TraceReader:
    """Streaming reader over one trace file; use as a context manager (see :func:`open_trace`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            raw = open_binary(self.path)
        except OSError as exc:
            raise TraceFormatError(self.path, None, f"cannot open: {exc.strerror or exc}") from None
        self._source = LineSource(raw)
        try:
            self.header = _read_header(self._source, self.path)
        except BaseException:
            self._source.close()
            raise
        self._last_t = np.full(len(ROLES), -math.inf)

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()

    @property
    def meta(self) -> TraceMeta:
        return self.header.meta

    def chunks(self, rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[TraceChunk]:
        """Yield the rows in chunks of at most ``rows``; raise :class:`TraceFormatError` at a bad line
        after yielding every good row before it."""
        if rows < 1:
            raise ValueError("rows must be >= 1")
        while True:
            first_line = self._source.line + 1
            lines, read_error = self._source.take(rows, MAX_ROW_CHARS, MAX_BATCH_CHARS)
            if not lines and read_error is None:
                return
            chunk, error = (
                parse_rows(lines, first_line, self.header.columns, self.path, self._last_t)
                if lines
                else (None, None)
            )
            if chunk is not None and len(chunk):
                yield chunk
            if error is not None:
                raise error
            if read_error is not None:
                raise TraceFormatError(self.path, read_error.line, read_error.reason)


def open_trace(path: str | Path) -> TraceReader:
    """Open a trace for streaming: ``with open_trace(p) as r: for chunk in r.chunks(): ...``.

    Raises :class:`TraceFormatError` at once if the comment lines or the header are broken.
    ``.gz`` files are read through gzip.
    """
    return TraceReader(path)


def read_trace(path: str | Path) -> Trace:
    """Read a whole trace into one :class:`SampleBlock` per role (the fast path for replay tools)."""
    with open_trace(path) as reader:
        parts: dict[str, list[SampleBlock]] = {}
        for chunk in reader.chunks(rows=262144):
            for role, block in chunk.by_role().items():
                parts.setdefault(role, []).append(block)
        blocks = {role: SampleBlock.concat(bs) for role, bs in parts.items()}
        return Trace(reader.header, blocks)


# --------------------------------------------------------------------------------------------------
# Header


def _read_header(source: LineSource, path: str) -> TraceHeader:
    version: int | None = None
    meta: TraceMeta | None = None
    meta_line: int | None = None
    not_a_trace = f"not a {FORMAT_NAME} file: the first line must be '# {FORMAT_NAME}: {FORMAT_VERSION}'"
    while True:
        try:
            raw = source.next_line(MAX_HEADER_LINE_CHARS)
        except LineError as exc:
            raise TraceFormatError(path, exc.line, exc.reason) from None
        if raw is None:
            break
        n = source.line
        line = (raw[1:] if n == 1 and raw.startswith("\ufeff") else raw).strip()  # a BOM is harmless
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition(":")
            key = key.strip()
            if n == 1 and not (sep and key == FORMAT_NAME):
                raise TraceFormatError(path, n, not_a_trace)
            if key == FORMAT_NAME:
                version = _version(value.strip(), path, n)
            elif key == "meta":
                if meta is not None:
                    raise TraceFormatError(path, n, "a second 'meta' line")
                meta, meta_line = _parse_meta(value, path, n), n
            continue
        if version is None:
            raise TraceFormatError(path, n, not_a_trace)
        if len(line) > MAX_ROW_CHARS:
            raise TraceFormatError(path, n, f"the header line is longer than {MAX_ROW_CHARS} characters")
        columns = tuple(c.strip() for c in line.split(","))
        _check_columns(columns, path, n)
        return TraceHeader(path, version, meta or TraceMeta(), columns, n, meta_line)
    raise TraceFormatError(
        path, source.line or None, "no header line (the file ends before the column names)"
    )


def _version(text: str, path: str, line: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise TraceFormatError(path, line, f"version {text[:20]!r} is not a number")
    version = int(text)
    if version != FORMAT_VERSION:
        raise TraceFormatError(
            path,
            line,
            f"{FORMAT_NAME} version {version} is not supported (this reader knows version {FORMAT_VERSION})",
        )
    return version


def _parse_meta(text: str, path: str, line: int) -> TraceMeta:
    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    def finite_float(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise ValueError(f"the number {token[:30]} is beyond the range of a double")
        return value

    def double_int(token: str) -> int:
        # An integer a double cannot hold is no JSON number an interoperable reader can use (RFC 8259).
        if len(token.lstrip("-")) > 308:
            raise ValueError(f"an integer of {len(token.lstrip('-'))} digits is beyond the range of a double")
        return int(token)

    try:
        raw: Any = json.loads(
            text, parse_constant=no_constants, parse_float=finite_float, parse_int=double_int
        )
    except RecursionError:
        raw = None
        depth_error = True
    except ValueError as exc:
        raise TraceFormatError(path, line, f"the meta line is not valid JSON: {exc}") from None
    else:
        depth_error = _depth(raw) > MAX_META_DEPTH
    if depth_error:
        raise TraceFormatError(path, line, f"meta nests deeper than {MAX_META_DEPTH} levels")
    if not isinstance(raw, dict):
        raise TraceFormatError(path, line, "meta must be one JSON object")
    return TraceMeta(raw)


def _depth(value: object) -> int:
    """Nesting depth of a JSON value (iterative: the value may be deep)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _check_columns(columns: tuple[str, ...], path: str, line: int) -> None:
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise TraceFormatError(path, line, f"column {c[:40]!r} appears twice in the header")
        seen.add(c)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise TraceFormatError(
            path,
            line,
            f"the header lacks required column(s) {', '.join(missing)} (needs {','.join(REQUIRED_COLUMNS)})",
        )
    mag = [c for c in ("mx", "my", "mz") if c in seen]
    if mag and len(mag) != 3:
        raise TraceFormatError(path, line, "magnetometer columns come as a set: mx,my,mz")
