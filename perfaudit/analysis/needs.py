"""What evidence a rule reads. An attach run (py-spy samples, perhaps perfaudit's load) has
only some of it: the report says which rules could not run there, and why, from this."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Needs:
    # Each: "" when samples give the rule what it reads, else why they do not.
    in_process: str = ""  # only an in-process run records it (SQL, call fingerprints…)
    latency: str = ""  # each route's latency beside its samples: perfaudit's load, with --app
    requests: str = ""  # perfaudit's own requests to the server


SAMPLES_SUFFICE = Needs()
