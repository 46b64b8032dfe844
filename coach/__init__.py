"""Session coach for retrograde massage: posture, wrist and stroke feedback from wrist-worn IMUs."""

__version__ = "0.1.0"
