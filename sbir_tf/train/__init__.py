"""Training loops, schedules, checkpoints and progress reporting."""
