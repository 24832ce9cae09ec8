"""The cross-cutting tests: end to end, drills, the history checker; helpers in tests/support."""
