"""A simulated patient who follows the coach's prompts: the session simulator's motion, started when the
recording starts, with its calibration phases at the prompted times.

    world, motion = prompted_world(["treated", "hand"], time_scale=4.0, lead_in_s=1.0, still_s=3.0,
                                   rotate_s=6.0, duration_s=120.0)
    ...                                   # connect; when the recording's t = 0 comes:
    motion.start_at(world.now())
"""

from __future__ import annotations

from simulators.ble.device import FaultPlan
from simulators.ble.motion import SessionMotion
from simulators.ble.world import SimWorld, default_world


def prompted_world(
    roles: list[str],
    *,
    time_scale: float = 1.0,
    lead_in_s: float = 1.0,
    still_s: float = 3.0,
    rotate_s: float = 6.0,
    duration_s: float = 300.0,
    seed: int = 0,
    arm: str = "right",
    faults: dict[str, FaultPlan] | None = None,
) -> tuple[SimWorld, SessionMotion]:
    """The default simulated devices, measuring a simulated session whose calibration prompts come at
    ``lead_in_s`` (still, ``still_s``) and then rotate (``rotate_s``) after its start."""
    from simulators import Scenario, simulate_motion

    wanted = ["treated", *[r for r in roles if r != "treated"]]  # the simulator always has a treated arm
    scenario = Scenario().replace(
        roles=wanted,
        duration_s=max(20.0, duration_s),
        arm=arm,
        **{
            "calibration.lead_in_s": lead_in_s,
            "calibration.still_s": still_s,
            "calibration.rotate_s": rotate_s,
        },
    )
    session = simulate_motion(scenario, seed)
    motion = SessionMotion(session.blocks)
    motion.start_at(1e12)  # hold the first pose until the recording starts
    return default_world(time_scale, motion=motion, faults=faults, seed=seed), motion
