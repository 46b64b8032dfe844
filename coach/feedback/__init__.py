"""Live feedback: debounced cue rules (and, from other modules, the terminal view and audio)."""
