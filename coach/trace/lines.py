"""Lines of a trace file, read in blocks with bounded memory, each with its exact line number.

Python's text files read a whole line whatever its length (a 2 GB line is 2 GB of memory and a long
wait) and report a decoding error somewhere in a block of many lines. :class:`LineSource` reads bytes
in blocks of :data:`BLOCK_BYTES`, splits them at ``\\n``, ``\\r\\n`` or ``\\r`` (the universal newlines
of a text file), refuses a line as soon as it grows past the caller's limit, and finds the exact line
of a UTF-8 error, so every problem has a line number and the lines before it are kept. A block's lines
stay one ``bytes`` with their start and end offsets (found by numpy in one pass), so a batch of lines
is a slice of it, not a list of ``bytes`` split off and joined again.
"""

from __future__ import annotations

import gzip
import re
import zlib
from typing import IO, Final, cast

import numpy as np
import numpy.typing as npt

BLOCK_BYTES: Final = 1 << 20
IntArray = npt.NDArray[np.intp]
_NONE: Final[IntArray] = np.zeros(0, dtype=np.intp)
_ZERO: Final[IntArray] = np.zeros(1, dtype=np.intp)
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
        # The complete lines of the current block, "\n"-separated: line i is
        # _block[_starts[i]:_ends[i]]; lines from index _pos on are not handed out yet.
        self._block = b""
        self._starts: IntArray = _NONE
        self._ends: IntArray = _NONE
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
        raw = self._block[self._starts[self._pos] : self._ends[self._pos]]
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
        pieces: list[bytes] = []  # runs of consecutive lines, each a slice of one block
        count = 0
        first = self.line + 1
        size = 0
        error: LineError | None = None
        while count < rows and size < max_bytes:
            try:
                if not self._ready(limit):
                    break
            except LineError as exc:
                error = exc
                break
            i = self._pos
            j = min(len(self._starts), i + rows - count)
            starts, ends = self._starts[i:j], self._ends[i:j]
            lengths = ends - starts
            if int(lengths.max()) > limit:
                k = int(np.argmax(lengths > limit))
                if k:
                    pieces.append(self._block[starts[0] : ends[k - 1]])
                count += k
                self._pos += k + 1
                self.line += k + 1
                error = self._too_long(self.line, int(lengths[k]), limit)
                break
            pieces.append(self._block[starts[0] : ends[-1]])
            count += j - i
            self._pos = j
            self.line += j - i
            size += int(ends[-1] - starts[0]) + 1  # the lines' bytes and one terminator each
        if not count:
            return Lines(b"", 0), error
        blob = pieces[0] if len(pieces) == 1 else b"\n".join(pieces)
        try:
            blob.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = blob.count(b"\n", 0, exc.start)
            self._stop()
            good = b"\n".join(blob.split(b"\n", bad)[:bad])
            return Lines(good, bad), LineError(first + bad, f"not UTF-8 text ({exc.reason})")
        return Lines(blob, count), error

    # -- internals -------------------------------------------------------------------------------
    def _ready(self, limit: int) -> bool:
        """Make at least one complete line available; ``False`` at the end of the file."""
        while self._pos >= len(self._starts):
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
        self._set_block(b"", 0)
        self._partial = b""
        self._eof, self._read_error = True, None

    def _fill(self) -> None:
        try:
            data = self._raw.read(BLOCK_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            # The unfinished line is cut off: the error belongs to it.
            data, self._read_error, self._partial = b"", f"cannot read further: {exc}", b""
        self._set_block(b"", 0)
        if not data:
            self._eof = True
            if self._partial:
                last = self._partial[:-1] if self._partial.endswith(b"\r") else self._partial
                self._set_block(last, 1)
                self._partial = b""
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
        if b"\r" in complete:  # every newline kind becomes "\n" (a line holds neither)
            complete = b"\n".join(_NEWLINE.split(complete))
        self._set_block(complete, None)

    def _set_block(self, block: bytes, lines: int | None) -> None:
        """Make ``block`` (lines separated by ``"\\n"``) the current one: ``lines`` is 0 (none) or 1
        (one line, no separator) or None (as many as ``block.split(b"\\n")`` gives)."""
        self._block, self._pos = block, 0
        if lines == 0:
            self._starts, self._ends = _NONE, _NONE
            return
        newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 0x0A) if lines is None else _NONE
        self._starts = np.concatenate((_ZERO, newlines + 1))
        self._ends = np.concatenate((newlines, np.array([len(block)], dtype=np.intp)))
