"""What the memory phase saw, per route: how much a request holds at its peak and which of
the app's lines hold it, and what requests leave behind that grows with their number.

The memory phase runs tracemalloc, after every route's latency was measured and never
while any latency is: tracing each allocation slows an app by 2-4x. Sizes are bytes as
tracemalloc counts them (the Python heap, not the native memory of C extensions), RSS is
the process's resident memory from the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfaudit.model.requests import CodeLocation, RouteKey


@dataclass(frozen=True, slots=True)
class AllocationSite:
    """Memory the app's line allocated and still held: at a request's peak, or retained
    across requests (then per request, over both halves of the growth phase)."""

    location: CodeLocation  # the innermost app frame of the allocations
    bytes: float
    blocks: float
    # The allocations' app frames, innermost first ("file:line"): how the line was reached.
    stack: tuple[str, ...] = ()
    # Growth sites: what the line retained over each half of the growth phase, in bytes. A
    # leak grows in both, about alike; a cache warming up grows in the first only.
    halves: tuple[int, int] = (0, 0)
    # "app" when `location` is the app's own line; else the owner of the innermost frame
    # ("library", "stdlib", a package): no frame of the app's was in the traceback.
    owner: str = "app"
    code: str = ""  # the source line at `location`


@dataclass(frozen=True, slots=True)
class GrowingContainer:
    """A long-lived container of the app's (a module global, a class attribute, an
    attribute of a module-level object, a functools cache, app.state) that gained items
    over the growth phase."""

    name: str  # "sample_apps.leaky.HISTORY", "Registry.seen", "lookup() cache"
    kind: str  # "module-level", "class attribute", "instance attribute", "lru_cache", "app.state"
    type_name: str  # "list", "dict", "deque", "OrderedDict", "set", "lru_cache"
    items_before: int
    items_after: int
    requests: int  # over which it gained them
    bound: int | None = None  # maxlen / maxsize, when it has one
    # Where the name is defined (a module global's module, a class), when known.
    location: CodeLocation | None = None
    # The app line that allocated its newest items (tracemalloc's traceback of them).
    allocated_at: CodeLocation | None = None

    @property
    def items_per_request(self) -> float:
        return (self.items_after - self.items_before) / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class RouteMemory:
    route: RouteKey
    # Requests of the growth phase (both halves), after `warmup_requests` under tracing.
    requests: int
    warmup_requests: int
    # A request's peak: the traced memory above what was held when it began (median over
    # `peak_requests` requests, one at a time), and the app lines holding most of it.
    peak_requests: int
    peak_bytes: int
    peak_sites: tuple[AllocationSite, ...]
    response_bytes: float  # the response body, mean per request
    # Growth: what both halves of the growth phase kept after a full collection, by app
    # line. `retained_bytes_per_request` sums the lines that grew alike in both halves;
    # `settled_bytes` grew in the first half only (caches filling), `traced_growth` is the
    # whole traced heap's growth over each half, every line included.
    retained_bytes_per_request: float
    growth_sites: tuple[AllocationSite, ...]
    settled_bytes: int
    traced_growth: tuple[int, int]
    containers: tuple[GrowingContainer, ...]
    # The process's resident memory before and after the phase (0 where not known).
    rss_before_bytes: int
    rss_after_bytes: int
    wall_s: float
    traceback_depth: int
    note: str = ""  # why the phase stopped short (a request failed, the time ran out)
