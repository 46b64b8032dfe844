"""Lines of a trace file, read in blocks with bounded memory, each with its exact line number.

Python's text files read a whole line whatever its length (a 2 GB line is 2 GB of memory and a long
wait) and report a decoding error somewhere in a block of many lines. :class:`LineSource` reads bytes
in blocks of :data:`BLOCK_BYTES`, splits them at ``\\n``, ``\\r\\n`` or ``\\r`` (the universal newlines
of a text file), refuses a line as soon as it grows past the caller's limit, and finds the exact line
of a UTF-8 error, so every problem has a line number and the lines before it are kept.
"""

from __future__ import annotations

import gzip
import re
import zlib
from typing import IO, Final, cast

BLOCK_BYTES: Final = 1 << 20
_NEWLINE = re.compile(rb"\r\n|\r|\n")


class LineError(Exception):
    """A line that cannot be read. ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def open_binary(path: str) -> IO[bytes]:
    """The raw bytes of ``path`` (through gzip for ``.gz``); ``OSError`` when it cannot be opened."""
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


class Lines:
    """Consecutive lines as one UTF-8 blob joined by ``\\n`` (how a batch parser reads them fastest,
    without a Python object per line), and the same lines as text on demand."""

    __slots__ = ("_text", "blob", "count")

    def __init__(self, blob: bytes, count: int) -> None:
        self.blob = blob
        self.count = count
        self._text: list[str] | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def text(self) -> list[str]:
        """The lines without terminators (decoded once, when first asked for)."""
        if self._text is None:
            self._text = self.blob.decode("utf-8").split("\n") if self.count else []
        return self._text


class LineSource:
    """Numbered lines of a byte stream (see the module docstring); :attr:`line` is the number of the
    last line handed out (0 before the first)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._lines: list[bytes] = []  # complete lines not handed out yet, from index _pos
        self._pos = 0
        self._partial = b""  # the unfinished last line of what was read
        self._eof = False
        self._read_error: str | None = None
        self.line = 0

    def close(self) -> None:
        self._raw.close()

    def next_line(self, limit: int) -> str | None:
        """The next line without its terminator, or ``None`` at the end of the file.

        Raises :class:`LineError` for a line longer than ``limit`` bytes, one that is not UTF-8, or a
        file that cannot be read further (a broken gzip stream).
        """
        if not self._ready(limit):
            return None
        raw = self._lines[self._pos]
        self._pos += 1
        self.line += 1
        if len(raw) > limit:
            raise self._too_long(self.line, len(raw), limit)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineError(self.line, f"not UTF-8 text ({exc.reason})") from None

    def take(self, rows: int, limit: int, max_bytes: int) -> tuple[Lines, LineError | None]:
        """Up to ``rows`` lines of about ``max_bytes`` at most, and the error that stopped reading
        early, if any: the good lines before a bad one come with the error, so nothing good is lost."""
        out: list[bytes] = []
        first = self.line + 1
        size = 0
        error: LineError | None = None
        while len(out) < rows and size < max_bytes:
            try:
                if not self._ready(limit):
                    break
            except LineError as exc:
                error = exc
                break
            batch = self._lines[self._pos : self._pos + rows - len(out)]
            lengths = list(map(len, batch))
            if max(lengths) > limit:
                k = next(i for i, n in enumerate(lengths) if n > limit)
                out += batch[:k]
                self._pos += k + 1
                self.line += k + 1
                error = self._too_long(self.line, lengths[k], limit)
                break
            out += batch
            self._pos += len(batch)
            self.line += len(batch)
            size += sum(lengths) + len(batch)
        if not out:
            return Lines(b"", 0), error
        blob = b"\n".join(out)
        try:
            blob.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = blob.count(b"\n", 0, exc.start)
            self._stop()
            return Lines(b"\n".join(out[:bad]), bad), LineError(first + bad, f"not UTF-8 text ({exc.reason})")
        return Lines(blob, len(out)), error

    # -- internals -------------------------------------------------------------------------------
    def _ready(self, limit: int) -> bool:
        """Make at least one complete line available; ``False`` at the end of the file."""
        while self._pos >= len(self._lines):
            if self._eof:
                if self._read_error is not None:
                    error = LineError(self.line + 1, self._read_error)
                    self._read_error = None
                    raise error
                return False
            if len(self._partial) > limit:
                raise self._too_long(self.line + 1, None, limit)
            self._fill()
        return True

    def _too_long(self, line: int, length: int | None, limit: int) -> LineError:
        self._stop()
        size = f"{length} bytes long" if length is not None else f"longer than {limit} bytes"
        return LineError(line, f"the line is {size}; at most {limit} are allowed here")

    def _stop(self) -> None:
        """Nothing after a refused line is read."""
        self._lines, self._pos, self._partial = [], 0, b""
        self._eof, self._read_error = True, None

    def _fill(self) -> None:
        try:
            data = self._raw.read(BLOCK_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            # The unfinished line is cut off: the error belongs to it.
            data, self._read_error, self._partial = b"", f"cannot read further: {exc}", b""
        self._lines, self._pos = [], 0
        if not data:
            self._eof = True
            if self._partial:
                last = self._partial[:-1] if self._partial.endswith(b"\r") else self._partial
                self._lines, self._partial = [last], b""
            return
        data = self._partial + data
        # A "\r" at the very end may be the first half of "\r\n": keep it for the next block.
        end = len(data) - 1 if data.endswith(b"\r") else len(data)
        cut = max(data.rfind(b"\n", 0, end), data.rfind(b"\r", 0, end))
        if cut < 0:
            self._partial = data
            return
        complete, self._partial = data[:cut], data[cut + 1 :]
        if data[cut] == 0x0A and complete.endswith(b"\r"):
            complete = complete[:-1]
        self._lines = _NEWLINE.split(complete) if b"\r" in complete else complete.split(b"\n")
