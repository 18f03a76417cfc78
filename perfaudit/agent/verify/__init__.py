"""`--verify`: try each finding's suggested change in memory, on the running app, and
measure it (harness.py); one module per experiment in experiments/."""
