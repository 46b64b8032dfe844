"""coach.malloc_reuse: the allocator thresholds a replay sets, and when it leaves them alone."""

from __future__ import annotations

import ctypes
import platform

import pytest

from coach.malloc_reuse import (
    M_MMAP_THRESHOLD,
    M_TRIM_THRESHOLD,
    MMAP_THRESHOLD_BYTES,
    TRIM_THRESHOLD_BYTES,
    keep_freed_memory,
)


class _Libc:
    """A C library that records its ``mallopt`` calls and answers ``result``."""

    def __init__(self, result: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.result


def test_sets_both_thresholds() -> None:
    libc = _Libc()
    assert keep_freed_memory({}, libc)
    assert libc.calls == [(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)]


@pytest.mark.parametrize("name", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"])
def test_a_users_variable_wins(name: str) -> None:
    libc = _Libc()
    assert not keep_freed_memory({name: "131072"}, libc)
    assert libc.calls == []


def test_refused_or_missing_mallopt() -> None:
    assert not keep_freed_memory({}, _Libc(result=0))
    assert not keep_freed_memory({}, object())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_values() -> None:
    # The values are within what this process's glibc allows (it refuses an mmap threshold above
    # half its largest heap): mallopt answers 1.
    libc = ctypes.CDLL(None)
    assert libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    assert libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    assert keep_freed_memory({})
