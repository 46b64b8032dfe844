"""The streaming signal core: resampling, orientation (VQF), posture angles, cadence, the stroke slot."""
