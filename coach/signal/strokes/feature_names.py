"""Names of the stroke evidence features of one candidate contact, in the order the networks read them
(``segments`` computes them; ``hand`` takes the ``treated`` ones on the hand's own frames too)."""

from __future__ import annotations

from typing import Final

TREATED_FEATURES: Final = (
    "hf_contrast",
    "hf_mid_contrast",
    "hf_in",
    "hf_rise",
    "hf_fall",
    "dip_deg",
    "el_onset_deg",
    "el_release_deg",
    "lf_onset",
    "lf_release",
    "lf_both",
    "lf_inner",
    "hf_valley",
    "gyro_max",
    "el_range",
    "el_step_onset",
    "el_step_release",
    "push_mm",
    "lift_mm",
    "excursion_mm",
    "turn_deg",
    "duration_s",
    "log_duration",
    "hf_floor",
    "log2_rate",
)
STROKER_FEATURES: Final = ("s_motion_in", "s_motion_out", "s_glide_m", "s_gyro_in", "s_gyro_out")
