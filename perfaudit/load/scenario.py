"""What `perfaudit load` sends to a live server, and how hard: the targets (URLs with a
method, headers, body and weight) and the load model.

Closed model (`rate` None): `connections` clients, each sending its next request when the
previous response has arrived; it finds the throughput the server can give. Open model
(`rate` R): requests are due at R per second overall, on a fixed schedule, whatever the
server does; latency then runs from each request's *intended* send time (wrk2's
correction for coordinated omission), with the uncorrected figure kept beside it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from perfaudit.load.variables import body_for, headers_for, render, varies

LoadModel = Literal["closed", "open"]


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # absolute http:// or https:// URL
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    weight: float = 1.0  # share of requests, relative to the other targets'
    rows: tuple[bytes, ...] = ()  # bodies from a data file, one per request in turn

    def __str__(self) -> str:
        return f"{self.method} {self.url}"

    @property
    def varies(self) -> bool:
        """Whether requests differ: variables ({n}, {uuid}, {random}) or data-file rows."""
        return varies(self.rows, self.headers, self.url, self.body)

    def instance(self, n: int) -> Target:
        """The request as sent the n-th time: its row, its variables filled in."""
        headers, body = headers_for(self.headers, n), body_for(self.body, self.rows, n)
        return Target(render(self.url, n), self.method, headers, body)


@dataclass(frozen=True, slots=True)
class LoadPlan:
    targets: tuple[Target, ...]
    connections: int = 10  # keep-alive connections (closed model: also the concurrency)
    rate: float | None = None  # open model: requests per second, all targets together
    duration_s: float | None = 10.0  # stop after this long…
    requests: int | None = None  # …or after this many requests, whichever comes first
    timeout_s: float = 10.0  # per request
    processes: int = 1  # engine processes; each takes a share of connections and rate
    # The numbers {n} takes in this plan's requests: first, first + step, … (each engine
    # process of a run gets its own, so that no two requests share one).
    first_number: int = 1
    number_step: int = 1

    def numbers(self) -> Iterator[int]:
        return itertools.count(self.first_number, self.number_step)

    @property
    def model(self) -> LoadModel:
        return "closed" if self.rate is None else "open"
