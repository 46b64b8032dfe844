"""Physical constants and unit conversions used across the project (SI inside, docs/design.md §3).

One home for each: drivers scale raw counts with them, calibration and the pipeline remove gravity,
the simulators generate specific force with them.
"""

from __future__ import annotations

from typing import Final

#: Standard gravity (m/s²), the value device data sheets scale ``g`` with (ISO 80000-3).
GRAVITY_MPS2: Final = 9.80665
