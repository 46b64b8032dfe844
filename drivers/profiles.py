"""The registry of device profiles: by name, and by what a device advertises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drivers.base import DeviceProfile
from drivers.coach_imu import CoachImuProfile
from drivers.metamotion import MetamotionProfile
from drivers.movesense import MovesenseProfile
from drivers.polar_verity import PolarVerityProfile
from drivers.thingy52 import Thingy52Profile
from drivers.witmotion import WitmotionProfile

#: Profile name (as on the command line) -> profile class.
PROFILES: dict[str, type[DeviceProfile]] = {
    "metamotion": MetamotionProfile,
    "polar-verity": PolarVerityProfile,
    "witmotion": WitmotionProfile,
    "movesense": MovesenseProfile,
    "thingy52": Thingy52Profile,
    "coach-imu": CoachImuProfile,
}

#: Every service UUID a compatible device may advertise (the scan filter).
SERVICE_UUIDS: tuple[str, ...] = tuple(p.service_uuid for p in PROFILES.values())


def make_profile(name: str, **settings: Any) -> DeviceProfile:
    """A profile instance with its default start-stream settings, overridden by ``settings``."""
    try:
        cls = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown device profile {name!r}; known: {', '.join(PROFILES)}") from None
    return cls(**settings)


def profile_for(name: str | None, service_uuids: Sequence[str]) -> str | None:
    """The profile an advertisement belongs to: by service UUID first, then by name."""
    uuids = {u.lower() for u in service_uuids}
    for key, cls in PROFILES.items():
        if cls.service_uuid in uuids:
            return key
    for key, cls in PROFILES.items():
        if name and any(name.startswith(p) for p in cls.name_prefixes):
            return key
    return None
