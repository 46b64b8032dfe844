"""Keyboard input (and the stop signals) for a live session, never blocking the event loop or the exit.

Lines (screening answers, pain and swelling scores) and single keys (stop at any moment) are read
from stdin through the event loop's reader callbacks, not a blocking ``readline`` in a thread (such a
thread would keep the process alive after the session ended). On a terminal, key mode switches it to
cbreak (no Enter needed, no echo) and restores it afterwards, also over SSH; keys are watched only
on a terminal. A closed or missing stdin (``coach demo`` runs with stdin closed) reads as end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

#: Keys that stop a session: q, Q, s, S, Esc, space (not Enter: it ends every typed answer).
STOP_KEYS = frozenset(b"qQsS\x1b ")


class Console:
    """Line and key input from ``stdin`` (default: the process's)."""

    def __init__(self, stdin: TextIO | None = None) -> None:
        stream = stdin if stdin is not None else sys.stdin
        self._fd: int | None
        try:
            self._fd = stream.fileno() if stream is not None else None
            if self._fd is not None:
                os.fstat(self._fd)
        except (OSError, ValueError, AttributeError):
            self._fd = None  # closed, or replaced by something without a descriptor (pytest)
        self.is_tty = self._fd is not None and os.isatty(self._fd)
        self._buffer = bytearray()
        self._eof = self._fd is None
        self._changed = asyncio.Event()
        self._watching = False
        self._on_key: Callable[[int], None] | None = None
        self._pollable = self._fd is not None and not stat.S_ISREG(os.fstat(self._fd).st_mode)

    @property
    def closed(self) -> bool:
        return self._eof and not self._buffer

    def _read_available(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._eof = True
            self._unwatch()
        elif self._on_key is not None:
            for byte in data:
                self._on_key(byte)
        else:
            self._buffer += data
        self._changed.set()

    def _watch(self) -> None:
        if self._watching or self._eof or self._fd is None:
            return
        if not self._pollable:  # a regular file: reading never blocks
            return
        asyncio.get_running_loop().add_reader(self._fd, self._read_available)
        self._watching = True

    def _unwatch(self) -> None:
        if self._watching and self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
        self._watching = False

    async def readline(self) -> str | None:
        """One line without its newline; ``None`` at end of input."""
        while b"\n" not in self._buffer:
            if self._eof:
                if not self._buffer:
                    return None
                break
            if not self._pollable:
                self._read_available()
                continue
            self._watch()
            self._changed.clear()
            await self._changed.wait()
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        self._unwatch()
        return line.decode("utf-8", errors="replace").rstrip("\r")

    def watch_keys(self, on_key: Callable[[int], None]) -> bool:
        """Call ``on_key(byte)`` for every key pressed from now on; ``False`` when stdin is not a
        terminal (piped input holds typed-ahead answers, not key presses) or there is no input."""
        if self._eof or self._fd is None or not self._pollable or not self.is_tty:
            return False
        self._on_key = on_key
        for byte in bytes(self._buffer):
            on_key(byte)
        self._buffer.clear()
        self._watch()
        return True

    def stop_keys(self) -> None:
        self._on_key = None
        self._unwatch()

    @contextlib.contextmanager
    def key_mode(self) -> Iterator[None]:
        """On a terminal: cbreak, no echo, for one-key commands; restored on exit (also on errors)."""
        if not self.is_tty or self._fd is None:
            yield
            return
        import termios
        import tty

        saved = termios.tcgetattr(self._fd)
        try:
            tty.setcbreak(self._fd)
            yield
        finally:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)

    @contextlib.contextmanager
    def stop_keys_while(self, on_stop: Callable[[], None]) -> Iterator[None]:
        """While the block runs, a stop key (:data:`STOP_KEYS`) calls ``on_stop`` (on a terminal)."""

        def on_key(byte: int) -> None:
            if byte in STOP_KEYS:
                on_stop()

        with self.key_mode():
            self.watch_keys(on_key)
            try:
                yield
            finally:
                self.stop_keys()


def handle_stop_signals(on_signal: Callable[[signal.Signals], None]) -> list[signal.Signals]:
    """SIGINT and SIGTERM call ``on_signal`` the first time; a second one (either) ends the process at
    once, without a traceback: the terminal is put back as it was, one line says so, and whatever is
    already on disk (trace, events, spool: all written as they come) is kept. Returns the signals
    handled (none outside the main thread). Remove them when done."""
    loop = asyncio.get_running_loop()
    handled = []
    fired: list[signal.Signals] = []
    saved_tty = _tty_state()

    def handler(sig: signal.Signals) -> None:
        if fired:
            _exit_now(sig, saved_tty)
        fired.append(sig)
        on_signal(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            continue
        handled.append(sig)
    return handled


def _tty_state() -> list[Any] | None:
    import termios

    try:
        return termios.tcgetattr(sys.stdin.fileno()) if sys.stdin.isatty() else None
    except (OSError, ValueError, termios.error):
        return None


def _exit_now(sig: signal.Signals, saved_tty: list[Any] | None) -> None:
    import termios

    if saved_tty is not None:
        with contextlib.suppress(OSError, ValueError, termios.error):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved_tty)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"\ncoach: stopped at once ({sig.name} again); everything already on disk is kept\n")
        sys.stderr.flush()
    os._exit(128 + int(sig))
