"""What the memory rules share: sizes as people read them, and which of the app's growing
containers keeps a growing line's memory."""

from __future__ import annotations

from perfaudit.model import AllocationSite, GrowingContainer, RouteMemory

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
_UNITS = (("GiB", GIB), ("MiB", MIB), ("KiB", KIB))
SECONDS_PER_DAY = 86_400
# A container gaining fewer items per request than this grows with something else (a
# cache of the app's keyed by a few values, filling up), not with every request.
ITEMS_PER_REQUEST = 0.5


def size_text(size: float) -> str:
    """812 B, 12.3 KiB, 123 KiB, 4.5 MiB: one decimal below 100 of a unit, none above."""
    sign, value = ("−" if size < 0 else ""), abs(size)
    for unit, scale in _UNITS:
        if round(value / scale, 1) >= 1:  # 1,023.96 KiB is "1.0 MiB", not "1,024 KiB"
            amount = value / scale
            return f"{sign}{amount:.1f} {unit}" if amount < 100 else f"{sign}{amount:,.0f} {unit}"
    return f"{sign}{value:.0f} B"


def app_growth_sites(memory: RouteMemory) -> list[AllocationSite]:
    """The growing lines of the app's own code, most bytes first."""
    return [site for site in memory.growth_sites if site.owner == "app"]


def holding_container(memory: RouteMemory) -> GrowingContainer | None:
    """The container that keeps the growth: one whose newest items were allocated at a
    growing line, else the one gaining most items per request (at least about one every
    other request), else None."""
    lines = {(s.location.file, s.location.line) for s in memory.growth_sites}
    steady = [c for c in memory.containers if c.items_per_request >= ITEMS_PER_REQUEST]
    for container in steady:
        at = container.allocated_at
        if at is not None and (at.file, at.line) in lines:
            return container
    return max(steady, key=lambda c: c.items_per_request, default=None)
