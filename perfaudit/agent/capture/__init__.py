"""The in-process collectors: cProfile, the loop watchdog, SQL, calls, threads."""
