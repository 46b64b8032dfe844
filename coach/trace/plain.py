"""Trace rows of plain fixed-point numbers read by numpy arithmetic, without a text-to-number call.

:func:`parse_plain` takes a batch whose numbers are written the way :mod:`coach.trace.writer` writes
them: ``-?digits.digits`` (or ``-?digits``) with the same count of decimals in every row of a column,
at most 15 characters, no space, no ``+``. Anything else gives ``None`` and the batch goes to the
other parsers of :mod:`coach.trace.rows` (numpy's ``loadtxt``, then pandas), so this is only a faster
way to the same doubles, never a second opinion on what a trace may hold.

How a column is read: the bytes of each row's field are gathered right-aligned into a (rows, W)
matrix, and one matrix-vector product with the weights ``10**e`` (``e`` the digit's place, 0 for the
point) gives the field's digits as an integer, plus multiples of ``10**digits`` from the bytes left of
the field (a separator, the field before it), which ``mod 10**digits`` takes off. Every term and every
partial sum is an integer below 2**53 (bytes ≤ 255, weights ≤ 10**13 for W ≤ 15), so the product is
exact whatever the order of its additions. The value is then that integer divided once by
``10**decimals``: an exact integer below 2**53 and an exact power of ten, so one correctly rounded
division, the correctly rounded value of the decimal. numpy's loader rounds correctly (and pandas'
default converter for up to 15 digits without an exponent, which the caller guards), so the doubles
are the same bit for bit; a minus sign is applied last (``-0.000`` is ``-0.0`` as in both).

Why: numpy's ``loadtxt`` parses ~0.4 µs a number on some machines (``PyOS_string_to_double`` per
field); this is about twice as fast on 15 minutes of three sensors and imports nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from coach.samples import ROLES, FloatArray

#: The longest field read here (sign, digits and point): no weight is above 10**13 (a field without a
#: point has one character less), so with bytes ≤ 255 every sum stays below 2**53 and is exact.
MAX_FIELD_CHARS = 15
_MAX_PLACE = 13
_POW10 = 10.0 ** np.arange(MAX_FIELD_CHARS + 1)
_POW10_INT = 10 ** np.arange(MAX_FIELD_CHARS + 1, dtype=np.int64)
_PAD = MAX_FIELD_CHARS + 1
_ROLE_BYTES = 8  # every role name fits in one 64-bit word
_ROLE_KEYS = np.frombuffer(b"".join(r.encode("ascii").ljust(_ROLE_BYTES, b"\0") for r in ROLES), np.uint64)
_ROLE_LENGTHS = np.array([len(r) for r in ROLES], dtype=np.int64)
#: The low n bytes of a little-endian word (the role name of n characters, without what follows it).
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(_ROLE_BYTES)] + [2**64 - 1], dtype=np.uint64)
_COMMA, _NEWLINE, _MINUS, _POINT = 0x2C, 0x0A, 0x2D, 0x2E
_PLAIN_BYTES = b"0123456789.-,\n"
assert max(_ROLE_LENGTHS) <= _ROLE_BYTES and np.dtype(np.uint64).byteorder in "=<"


def parse_plain(
    blob: bytes, count: int, columns: tuple[str, ...]
) -> tuple[npt.NDArray[np.int8], dict[str, FloatArray]] | None:
    """The role codes and each numeric column of ``count`` rows (``blob``: the lines joined by
    ``"\\n"``), or ``None`` when a row is not in the plain form described in the module docstring.

    What makes every other byte of a numeric field a digit: apart from exactly its rows' role names
    (each ``sensor`` field is one), the batch's bytes are digits, ``.``, ``-``, ``,`` and newlines; every
    ``-`` is the first byte of a field and every ``.`` sits at its column's place, with a digit before
    and after it.
    """
    if not count or "sensor" not in columns:
        return None
    ncol = len(columns)
    size = len(blob)
    padded = np.zeros(_PAD + size + _PAD, dtype=np.uint8)
    buf = padded[_PAD : _PAD + size]
    buf[:] = np.frombuffer(blob, dtype=np.uint8)
    separators = np.flatnonzero((buf == _COMMA) | (buf == _NEWLINE))
    if separators.size != count * ncol - 1:
        return None
    # Every row's last separator is a newline and no other is.
    newline = buf[separators] == _NEWLINE
    if not newline[ncol - 1 :: ncol].all() or int(np.count_nonzero(newline)) != count - 1:
        return None
    flat_ends = np.empty(count * ncol, dtype=np.int64)
    flat_ends[:-1] = separators
    flat_ends[-1] = size
    ends = flat_ends.reshape(count, ncol).T.copy()  # (column, row)
    starts = np.empty_like(ends)
    starts[0, 0] = 0
    starts[0, 1:] = ends[-1, :-1] + 1
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts
    windows = sliding_window_view(padded, _PAD)  # row i: padded[i : i + _PAD]; buf[j] is padded[_PAD + j]
    codes = _role_codes(windows, starts, lengths, columns.index("sensor"))
    if codes is None:
        return None
    letters = int(np.bincount(codes, minlength=len(ROLES)) @ _ROLE_LENGTHS)
    if len(blob.translate(None, _PLAIN_BYTES)) != letters:
        return None
    out: dict[str, FloatArray] = {}
    minus_signs = points = 0
    for c, name in enumerate(columns):
        if name == "sensor":
            continue
        read = _column(blob, buf, windows, starts[c], ends[c], lengths[c])
        if read is None:
            return None
        out[name], n_minus, has_point = read
        minus_signs += n_minus
        points += count if has_point else 0
    # Every '-' and '.' of the batch is one of those found at a field's start / its column's place.
    if np.count_nonzero(buf == _MINUS) != minus_signs or np.count_nonzero(buf == _POINT) != points:
        return None
    return codes, out


def _role_codes(
    windows: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], s: int
) -> npt.NDArray[np.int8] | None:
    """Each row's role code, or ``None`` unless every ``sensor`` field is exactly a role's name."""
    length = lengths[s]
    if int(length.max()) > _ROLE_BYTES or int(length.min()) < 1:
        return None
    words = windows[starts[s] + _PAD, :_ROLE_BYTES].copy().view(np.uint64)[:, 0] & _LOW_BYTES[length]
    codes = np.full(length.shape[0], -1, dtype=np.int8)
    for code in range(len(ROLES)):
        codes[(words == _ROLE_KEYS[code]) & (length == _ROLE_LENGTHS[code])] = code
    return None if (codes < 0).any() else codes


def _column(
    blob: bytes,
    buf: npt.NDArray[np.uint8],
    windows: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
) -> tuple[FloatArray, int, bool] | None:
    """One numeric column's values, its count of minus signs and whether it has a point, or ``None``."""
    width = int(lengths.max())
    if width > MAX_FIELD_CHARS or int(lengths.min()) < 1:
        return None
    minus = buf[starts] == _MINUS
    n_minus = int(np.count_nonzero(minus))
    digits = lengths - minus  # the field without its sign; less the point below
    first = blob[int(starts[0]) : int(ends[0])]
    point = first.find(b".")
    chars = windows[ends, _PAD - width :]  # right-aligned fields: padded[_PAD + end - width : _PAD + end]
    place = width - 1 - np.arange(width)  # characters right of each position
    if point >= 0:
        decimals = len(first) - 1 - point
        # A digit before and after the point in every row, and the point at its place.
        if decimals < 1 or int(digits.min()) < decimals + 2:
            return None
        if not (chars[:, width - 1 - decimals] == _POINT).all():
            return None
        digits = digits - 1
        weights = _POW10[place - (place > decimals)]
        weights[width - 1 - decimals] = 0.0
    else:
        decimals = 0
        if int(digits.min()) < 1 or width - 1 > _MAX_PLACE:
            return None
        weights = _POW10[place]
    # Σ byte·weight less Σ '0'·weight: each digit times its place value, plus whole multiples of
    # 10**digits from the bytes left of the field; mod 10**digits leaves the field's integer.
    mantissa = chars.astype(np.float64) @ weights
    mantissa -= 48.0 * float(weights.sum())
    # ``np.mod(mantissa, _POW10[digits])`` as int64: every number here is an integer below 2**53 in
    # magnitude, and numpy's float modulo is exact (floor, +0.0 for zero) for a positive divisor, so
    # the int64 floor modulo gives the same numbers, without the float modulo's cost (~9× slower).
    value = np.mod(mantissa.astype(np.int64), _POW10_INT[digits]).astype(np.float64)
    if decimals:
        value /= _POW10[decimals]
    if n_minus:
        np.negative(value, out=value, where=minus)
    return value, n_minus, point >= 0
