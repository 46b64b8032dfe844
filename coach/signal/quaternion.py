"""Vectorised unit-quaternion helpers, scalar first ``[w, x, y, z]``.

A quaternion ``q`` rotates a sensor-frame vector into the earth frame: ``v_E = q ⊗ v_S ⊗ q*``
(docs/design.md §3). Every function takes arrays of shape ``(n, 4)`` / ``(n, 3)`` (or a single ``(4,)`` /
``(3,)``, broadcast) and works on all rows at once, so the pipeline never loops over samples in Python.
"""

from __future__ import annotations

import numpy as np

from coach.samples import FloatArray

IDENTITY: FloatArray = np.array([1.0, 0.0, 0.0, 0.0])


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """``np.broadcast_shapes(a, b)``, quick for the usual cases (these run per span, live: every
    few samples, where ``np.broadcast_shapes`` alone costs more than the arithmetic)."""
    if a == b:
        return a
    if len(b) == 1 and a[-1:] == b:
        return a
    if len(a) == 1 and b[-1:] == a:
        return b
    return np.broadcast_shapes(a, b)


# Up to this many rows the helpers work in Python floats (live: one or two points a step), where each
# numpy call on a row costs more than its arithmetic: the same IEEE operations in the same order, so
# every bit is the same.
_SCALAR_ROWS = 2


def _rows(a: FloatArray) -> list[list[float]] | None:
    """The rows of a ``(k,)`` or ``(n, k)`` float64 array as lists, when it has at most
    :data:`_SCALAR_ROWS` rows; None otherwise."""
    if a.dtype != np.float64 or a.ndim > 2 or (a.ndim == 2 and a.shape[0] > _SCALAR_ROWS):
        return None
    rows: list[list[float]] = a.reshape(-1, a.shape[-1]).tolist()
    return rows


def _pair(p: FloatArray, q: FloatArray) -> tuple[list[list[float]], list[list[float]]] | None:
    """Both operands' rows broadcast to the same count, for the scalar path (None: use numpy)."""
    a, b = _rows(p), _rows(q)
    if a is None or b is None or (len(a) != len(b) and min(len(a), len(b)) != 1):
        return None
    n = max(len(a), len(b))
    return (a * n if len(a) < n else a), (b * n if len(b) < n else b)


def _multiply_rows(p: FloatArray, q: FloatArray) -> FloatArray | None:
    rows = _pair(p, q)
    if rows is None:
        return None
    out = [
        (
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        )
        for (pw, px, py, pz), (qw, qx, qy, qz) in zip(*rows, strict=True)
    ]
    return np.array(out, dtype=np.float64).reshape(_broadcast(p.shape, q.shape))


#: The Hamilton product's terms, in :func:`multiply`'s order: term ``i`` of component ``c`` is
#: ``p_i · q_order[i, c] · sign[i, c]``.
_TERM_ORDER = np.array([[0, 1, 2, 3], [1, 0, 3, 2], [2, 3, 0, 1], [3, 2, 1, 0]])
_TERM_SIGN = np.array(
    [[1.0, 1.0, 1.0, 1.0], [-1.0, 1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0]]
)[:, :, None]


#: The same for ``conj(p) ⊗ q``: the conjugate's negated x, y, z folded into the signs.
_CONJ_TERM_SIGN = _TERM_SIGN * np.array([1.0, -1.0, -1.0, -1.0])[:, None, None]


def _rows_product(p: FloatArray, q: FloatArray, sign: FloatArray) -> FloatArray:
    """The Hamilton product of two (n, 4) float64 arrays as its (4, n) components: the four products of
    each component as one (4, 4, n) product with the signs applied, summed in :func:`multiply`'s order
    (a − b is a + (−b) and (−a)·b is −(a·b) exactly), in a third of the numpy calls; the same bits."""
    terms: FloatArray = p.T[:, None, :] * q.T[_TERM_ORDER]
    terms *= sign
    m: FloatArray = terms[0] + terms[1]
    m += terms[2]
    m += terms[3]
    return m


def conjugate_times_rows(p: FloatArray, q: FloatArray) -> FloatArray:
    """``conj(p) ⊗ q`` of two (n, 4) float64 arrays as its (4, n) components, bit for bit
    ``multiply(conjugate(p), q).T``."""
    return _rows_product(p, q, _CONJ_TERM_SIGN)


def multiply(p: FloatArray, q: FloatArray) -> FloatArray:
    """Hamilton product ``p ⊗ q`` (apply ``q`` first, then ``p``)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    small = _multiply_rows(p, q)
    if small is not None:
        return small
    if p.ndim == 2 and p.shape == q.shape and p.shape[1] == 4:
        return np.ascontiguousarray(_rows_product(p, q, _TERM_SIGN).T)
    pw, px, py, pz = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    qw, qx, qy, qz = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(_broadcast(p.shape, q.shape))
    out[..., 0] = pw * qw - px * qx - py * qy - pz * qz
    out[..., 1] = pw * qx + px * qw + py * qz - pz * qy
    out[..., 2] = pw * qy - px * qz + py * qw + pz * qx
    out[..., 3] = pw * qz + px * qy - py * qx + pz * qw
    return out


def conjugate(q: FloatArray) -> FloatArray:
    """Inverse of a unit quaternion."""
    out = np.array(q, dtype=np.float64, copy=True)
    out[..., 1:] *= -1.0
    return out


def normalize(q: FloatArray) -> FloatArray:
    q = np.asarray(q, dtype=np.float64)
    out: FloatArray = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return out


def _rotate_rows(q: FloatArray, v: FloatArray) -> FloatArray | None:
    rows = _pair(q, v)
    if rows is None:
        return None
    small = []
    for (w, x, y, z), (vx, vy, vz) in zip(*rows, strict=True):
        tx = 2.0 * (y * vz - z * vy)
        ty = 2.0 * (z * vx - x * vz)
        tz = 2.0 * (x * vy - y * vx)
        ox = vx + w * tx + (y * tz - z * ty)
        oy = vy + w * ty + (z * tx - x * tz)
        small.append((ox, oy, vz + w * tz + (x * ty - y * tx)))
    return np.array(small, dtype=np.float64).reshape(_broadcast((*q.shape[:-1], 3), v.shape))


def rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors ``v`` by ``q`` (sensor frame → earth frame for a VQF quaternion)."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    small = _rotate_rows(q, v)
    if small is not None:
        return small
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    # t = 2 u × v; v' = v + w t + u × t
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    out = np.empty(_broadcast((*q.shape[:-1], 3), v.shape))
    out[..., 0] = vx + w * tx + (y * tz - z * ty)
    out[..., 1] = vy + w * ty + (z * tx - x * tz)
    out[..., 2] = vz + w * tz + (x * ty - y * tx)
    return out


def rotate_inverse(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors ``v`` by ``q*`` (earth frame → sensor frame)."""
    return rotate(conjugate(q), v)


def to_matrix(q: FloatArray) -> FloatArray:
    """Rotation matrices ``(…, 3, 3)``; columns are the rotated frame's axes in the outer frame."""
    w, x, y, z = np.moveaxis(normalize(q), -1, 0)
    return np.stack(
        (
            np.stack((1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)), axis=-1),
            np.stack((2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)), axis=-1),
            np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)), axis=-1),
        ),
        axis=-2,
    )


def from_matrix(m: FloatArray) -> FloatArray:
    """Quaternion of one proper rotation matrix ``(3, 3)`` (Shepperd's method, w ≥ 0)."""
    m = np.asarray(m, dtype=np.float64)
    tr = float(np.trace(m))
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s])
    q = q / np.linalg.norm(q)
    out: FloatArray = q if q[0] >= 0 else -q
    return out


def about_axis(axis: FloatArray, angle_rad: FloatArray | float) -> FloatArray:
    """Rotation by ``angle_rad`` about the unit ``axis`` (right-hand rule)."""
    axis = np.asarray(axis, dtype=np.float64)
    half = 0.5 * np.asarray(angle_rad, dtype=np.float64)[..., None]
    return np.concatenate((np.cos(half), np.sin(half) * axis), axis=-1)


def about_z(angle_rad: FloatArray | float) -> FloatArray:
    """Rotation about the earth vertical (a heading change)."""
    return about_axis(np.array([0.0, 0.0, 1.0]), angle_rad)


def heading_rad(q: FloatArray) -> FloatArray:
    """Heading of an orientation: the twist angle of ``q`` about the earth z axis."""
    q = np.asarray(q, dtype=np.float64)
    return 2.0 * np.arctan2(q[..., 3], q[..., 0])


def interpolate(t_query: FloatArray, t_s: FloatArray, q: FloatArray) -> FloatArray:
    """Orientation at ``t_query`` by normalised linear interpolation between the samples around it.

    ``t_s`` must be increasing; queries outside ``[t_s[0], t_s[-1]]`` take the end sample. Neighbouring
    samples are brought to the same hemisphere first, so the blend never takes the long way round.
    """
    t_query = np.asarray(t_query, dtype=np.float64)
    if t_s.size == 1:
        return np.repeat(q[:1], t_query.size, axis=0)
    i = np.clip(np.searchsorted(t_s, t_query, side="right") - 1, 0, t_s.size - 2)
    t0 = t_s[i]
    t1 = t_s[i + 1]
    f = np.clip((t_query - t0) / (t1 - t0), 0.0, 1.0)[:, None]
    q0 = q[i]
    q1 = q[i + 1]
    q1 = np.where(np.sum(q0 * q1, axis=1, keepdims=True) < 0, -q1, q1)
    return normalize((1.0 - f) * q0 + f * q1)
