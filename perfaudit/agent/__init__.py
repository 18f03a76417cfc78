"""The measuring side of an in-process run, started as a child in the app's own interpreter.

Everything under this package (and what it imports from `perfaudit.model`, `.analysis`,
`.capture.owners` …) uses only the standard library and what the app itself brings
(starlette, anyio, fastapi, sqlalchemy … at whatever version the app has), and runs on
CPython 3.10 and later: it is never installed into the app's environment, only put on
`sys.path` for the agent's own process (see `perfaudit.launcher`).
"""

# The modules the interpreter had loaded before perfaudit imported anything (bootstrap.py
# sets it): any other standard-library module whose name the app's own files take (a router
# `profile.py`) is the app's to import, not ours (loader.py). None outside the agent process.
STARTUP_MODULES: frozenset[str] | None = None
