"""Recording a live session: the raw samples as a `coach-trace` v1 file, the applied commands, the
events and the summary, so the session can be replayed (``coach replay``) with the same result.

Files, for a session id ``S`` in the recording folder (pseudonymous names only):

- ``S.csv``: the trace; its ``meta`` carries the calibration times found by the guided calibration,
  the sensors, the arm and body, the target duration, cadence range and thresholds in force at the
  start (docs/design.md §7);
- ``S.commands.jsonl``: every command applied to the pipeline with its ``t`` (therapist commands, and
  the coach's own pauses while a sensor was lost), in the form ``coach replay`` reads;
- ``S.gaps.jsonl``: every decision of the live session that a sensor was silent (its link down, or no
  samples for a while of healthy loop time): the time ``t`` up to which the pipeline's clock was
  advanced then, with the silent sensors and why; ``coach replay`` takes the same decisions from it
  and no others (created with the trace, empty when no sensor fell silent);
- ``S.events.jsonl``: every event as published; ``S.summary.json``: the summary.

The trace is opened once calibration is over (its ``meta`` needs the calibration times); samples until
then are held in memory and written first. Rows go out in time order across sensors: samples are held
until every sensor that is up has reached their time (a sensor whose link is down does not hold the
others back).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Final

import numpy as np

from coach.errors import ConfigError
from coach.events import Event, to_json
from coach.samples import SampleBlock
from coach.trace import TraceMeta, TraceWriter
from coach.trace.writer import _FMT as TRACE_FORMATS  # the resolution the trace file keeps

log = logging.getLogger("coach.session")


def _digits(fmt: str) -> int:
    return int(fmt.removeprefix("%.").removesuffix("f"))


def _quantize_digits(values: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """``float("%.{d}f" % v)`` for every value, ``d`` broadcast against ``values`` (per column), fast."""
    values = np.asarray(values, dtype=np.float64)
    scale = np.broadcast_to(10.0 ** np.asarray(digits, dtype=np.float64), values.shape)
    return _quantize_scaled(values, scale, digits)


def _quantize_scaled(values: np.ndarray, scale: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """:func:`_quantize_digits` with ``scale = 10.0 ** digits`` given (broadcast against ``values``).

    Rounding ``v·10^d`` to an integer ``n`` gives the same ``n`` as the decimal formatting whenever
    ``v·10^d`` is not within a hair of a tie (its rounding error is far below that hair for any value
    a trace holds), and ``n / 10^d`` is then the double nearest that decimal, exactly what parsing
    the formatted text gives. The few values near a tie (``|v·10^d − n|`` within ``1e-4`` of ½) take
    the formatting path itself. (``|v·10^d − n|`` is exact, and so is ½ less it: the same test as
    ``|frac(v·10^d) − ½| < 1e-4``, bit for bit, with two numpy calls fewer.)
    """
    scaled = values * scale
    n = np.rint(scaled)  # what np.round(x) computes for 0 decimals
    out: np.ndarray = n / scale
    np.subtract(scaled, n, out=scaled)
    np.abs(scaled, out=scaled)
    near_tie = np.subtract(0.5, scaled, out=scaled) < 1e-4
    if near_tie.any():
        d = np.broadcast_to(np.asarray(digits), values.shape)
        for idx in zip(*np.nonzero(near_tie), strict=True):
            out[idx] = float(f"%.{int(d[idx])}f" % values[idx])
    return out


def _quantize(values: np.ndarray, fmt: str) -> np.ndarray:
    """``float(fmt % v)`` for every value (``fmt`` like ``%.5f``)."""
    return _quantize_digits(values, np.asarray(_digits(fmt)))


#: Decimal digits of the columns ``t, ax, ay, az, gx, gy, gz`` in the trace, and their powers of ten.
_ROW_DIGITS: Final = np.array(
    [_digits(TRACE_FORMATS["t"])] + [_digits(TRACE_FORMATS["acc"])] * 3 + [_digits(TRACE_FORMATS["gyr"])] * 3
)
_ROW_SCALE: Final = 10.0 ** _ROW_DIGITS.astype(np.float64)


def as_recorded(block: SampleBlock) -> SampleBlock:
    """The block with every value exactly as the trace file will give it back (same decimal digits).

    The live pipeline is fed these, so a replay of the recorded trace sees bit-identical samples and
    produces the same events (to the last digit), not merely close ones.
    """
    # One pass over t, acc and gyr together (this runs for every notification).
    # (np.column_stack's numbers, filled in place: column_stack costs more than the copy on a few rows)
    joined = np.empty((len(block.t_s), 7))
    joined[:, 0] = block.t_s
    joined[:, 1:4] = block.acc_mps2
    joined[:, 4:7] = block.gyr_rps
    q = _quantize_scaled(joined, _ROW_SCALE, _ROW_DIGITS)
    return SampleBlock(
        block.role,
        np.ascontiguousarray(q[:, 0]),
        np.ascontiguousarray(q[:, 1:4]),
        np.ascontiguousarray(q[:, 4:7]),
        None if block.mag_ut is None else _quantize(block.mag_ut, TRACE_FORMATS["mag"]),
        None if block.pressure_pa is None else _quantize(block.pressure_pa, TRACE_FORMATS["pressure"]),
    )


def _private_open(path: Path) -> IO[str]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="\n")


class SessionRecorder:
    """Writes the files of one session into ``directory`` (created, mode 0700)."""

    def __init__(self, directory: Path, session_id: str) -> None:
        self.directory = directory
        #: Why the recording cannot go on (a full or read-only disk), naming the folder; ``None`` while
        #: it is written. From then on nothing more is written; what is on disk stays readable.
        self.error: str | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._events: IO[str] = _private_open(directory / f"{session_id}.events.jsonl")
        except OSError as exc:
            raise ConfigError(_disk_message(directory, exc)) from None
        self.session_id = session_id
        self.trace_path = directory / f"{session_id}.csv"
        self.commands_path = directory / f"{session_id}.commands.jsonl"
        self.events_path = directory / f"{session_id}.events.jsonl"
        self.summary_path = directory / f"{session_id}.summary.json"
        self.gaps_path = directory / f"{session_id}.gaps.jsonl"
        self._gaps: IO[str] | None = None
        self._writer: TraceWriter | None = None
        self._held: dict[str, list[SampleBlock]] = {}
        self._last_t: dict[str, float] = {}
        self._down: set[str] = set()
        self._commands: IO[str] | None = None
        self.samples_written = 0

    # -- samples -----------------------------------------------------------------------------------
    def add(self, block: SampleBlock) -> None:
        """Hold a block; :meth:`flush` writes it once every live sensor has reached its time."""
        if not len(block):
            return
        self._held.setdefault(block.role, []).append(block)
        self._last_t[block.role] = float(block.t_s[-1])
        self._down.discard(block.role)

    def flush(self) -> None:
        """Write what every live sensor has reached (called once a second, ``LiveConfig.trace_flush_s``:
        one write for many notifications; a crash loses at most the samples since the last call)."""
        if self._writer is not None:
            self._safely(lambda: self._flush(final=False))

    def _safely(self, write: Callable[[], None]) -> None:
        """``write()``; one that fails (a full or read-only disk) sets :attr:`error`, and every later
        write is skipped (what is on disk stays as it was: readable)."""
        if self.error is not None:
            return
        try:
            write()
        except OSError as exc:
            self.error = _disk_message(self.directory, exc)
            log.error("%s", self.error)

    def link(self, role: str, up: bool) -> None:
        """A sensor's link went down (it stops holding the others) or up."""
        if up:
            self._down.discard(role)
        else:
            self._down.add(role)

    def open_trace(self, meta: TraceMeta) -> None:
        """Calibration is over: create the trace with its final ``meta`` and write what was held."""
        self._safely(lambda: self._open_trace(meta))

    def _open_trace(self, meta: TraceMeta) -> None:
        roles = list(meta.sensor_roles)
        held = [b for blocks in self._held.values() for b in blocks]
        _private_open(self.trace_path).close()  # created 0600 before any sample is in it
        self._gaps = _private_open(self.gaps_path)
        self._writer = TraceWriter(
            self.trace_path,
            meta,
            mag=any(b.mag_ut is not None for b in held),
            pressure=any(b.pressure_pa is not None for b in held),
        )
        for role in roles:
            self._held.setdefault(role, [])
        self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        assert self._writer is not None
        live = [r for r in self._held if r not in self._down and r in self._last_t]
        if final:
            watermark = np.inf
        elif not live:
            return
        else:
            watermark = min(self._last_t[r] for r in live)
        out: list[SampleBlock] = []
        for role, blocks in self._held.items():
            if not blocks:
                continue
            joined = SampleBlock.concat(blocks) if len(blocks) > 1 else blocks[0]
            cut = int(np.searchsorted(joined.t_s, watermark, side="right"))
            if cut:
                out.append(joined.slice(0, cut))
            self._held[role] = [joined.slice(cut, len(joined))] if cut < len(joined) else []
        if out:
            self.samples_written += self._writer.write_blocks(out)

    # -- commands and events -----------------------------------------------------------------------
    def command(self, t_s: float, command: dict[str, Any]) -> None:
        """One applied command, as ``coach replay`` reads it (``t`` plus the command)."""
        self._safely(lambda: self._command(t_s, command))

    def _command(self, t_s: float, command: dict[str, Any]) -> None:
        if self._commands is None:
            self._commands = _private_open(self.commands_path)
        self._commands.write(json.dumps({"t": t_s, **command}, separators=(",", ":")) + "\n")
        self._commands.flush()

    def gap_decision(self, t_s: float, silent: dict[str, str]) -> None:
        """The pipeline's clock was advanced to ``t_s`` because of the ``silent`` sensors (role: why)."""
        gaps = self._gaps
        if gaps is not None:
            line = json.dumps({"t": t_s, "silent": silent}, separators=(",", ":")) + "\n"
            self._safely(lambda: _append(gaps, line))

    def events(self, events: Iterable[Event]) -> None:
        text = "".join(to_json(e) + "\n" for e in events)
        if text:
            self._safely(lambda: _append(self._events, text))

    def summary(self, summary: Event) -> None:
        def write() -> None:
            with _private_open(self.summary_path) as f:
                f.write(json.dumps(summary, indent=2, allow_nan=False) + "\n")

        self._safely(write)

    def close(self) -> None:
        writer = self._writer
        if writer is not None:
            self._safely(lambda: self._flush(final=True))
            self._safely(writer.close)
        for f in (self._events, self._gaps, self._commands):
            if f is not None:
                with contextlib.suppress(OSError):  # its unwritten tail is already reported
                    f.close()


def _append(f: IO[str], text: str) -> None:
    f.write(text)
    f.flush()


def _disk_message(directory: Path, exc: OSError) -> str:
    return (
        f"cannot write the recording in {directory}: {exc.strerror or exc} (is the disk full or read-only?)"
    )
