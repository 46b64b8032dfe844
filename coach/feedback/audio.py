"""Optional spoken or sound cues (off by default).

Uses what the machine has, in this order: ``espeak-ng`` (or ``espeak``) to speak the cue's message,
else ``aplay`` to play a short beep (a WAV written once to a temporary file), else nothing. Speech
runs as a child process and never blocks the session; while one cue is still being spoken a newer
one replaces it (a stale cue is worse than none). Every cue is also an event either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import struct
import tempfile
import wave
from pathlib import Path


def available_player() -> tuple[str, str] | None:
    """``("speech", path)`` or ``("beep", path)`` for the first player found, else ``None``."""
    for name in ("espeak-ng", "espeak"):
        exe = shutil.which(name)
        if exe:
            return "speech", exe
    exe = shutil.which("aplay")
    if exe:
        return "beep", exe
    return None


def _beep_wav(path: Path, freq_hz: float = 880.0, duration_s: float = 0.25, rate_hz: int = 16000) -> None:
    n = int(duration_s * rate_hz)
    frames = b"".join(
        struct.pack(
            "<h", int(12000 * math.sin(2 * math.pi * freq_hz * k / rate_hz) * min(1.0, (n - k) / 400))
        )
        for k in range(n)
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(frames)


class AudioCues:
    """``AudioCues(enabled=True)``; :meth:`play` a message; :meth:`close` at the end."""

    def __init__(self, enabled: bool = False, *, voice: str | None = None, words_per_min: int = 150) -> None:
        self.player = available_player() if enabled else None
        self.enabled = self.player is not None
        self.voice = voice
        self.words_per_min = words_per_min
        self._proc: asyncio.subprocess.Process | None = None
        self._beep: Path | None = None
        self.played = 0

    def _command(self, message: str) -> list[str]:
        assert self.player is not None
        kind, exe = self.player
        if kind == "speech":
            cmd = [exe, "-s", str(self.words_per_min)]
            if self.voice:
                cmd += ["-v", self.voice]
            return [*cmd, message]
        if self._beep is None:
            fd, name = tempfile.mkstemp(prefix="retro-coach-beep-", suffix=".wav")
            import os

            os.close(fd)
            self._beep = Path(name)
            _beep_wav(self._beep)
        return [exe, "-q", str(self._beep)]

    async def play(self, message: str) -> None:
        """Start speaking ``message`` (replacing a cue still being spoken); returns at once."""
        if not self.enabled:
            return
        await self._stop_current()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._command(message),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            self.played += 1
        except OSError:
            self.enabled = False  # the player vanished or cannot run: stay quiet from now on

    async def _stop_current(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(Exception):
                await proc.wait()

    async def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(proc.wait(), 5)
        await self._stop_current()
        if self._beep is not None:
            self._beep.unlink(missing_ok=True)
