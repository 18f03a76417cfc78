"""Time spent in a group of functions (serialisers, logging, password hashing), read from
a profile's call edges."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from perfaudit.analysis.context import app_caller
from perfaudit.model import (
    NESTED_CODE,
    CallerStats,
    FunctionId,
    FunctionStats,
    RouteProfile,
    Session,
)

# Slow on purpose: caching them would defeat their point, so the advice is to offload.
# Matched in the callee's name and in its file (argon2-cffi's PasswordHasher.hash).
SLOW_BY_DESIGN = ("pbkdf2", "scrypt", "bcrypt", "hashpw", "checkpw", "argon2", "kdf")
PASSWORD_LIBRARIES = ("/argon2/", "/bcrypt/", "/passlib/", "/pwdlib/", "/nacl/", "/scrypt/")


def slow_by_design(function: FunctionId) -> bool:
    """A password hash or key derivation: slow on purpose, never to be cached."""
    name = function.name.lower()
    return any(marker in name for marker in SLOW_BY_DESIGN) or any(
        lib in function.file for lib in PASSWORD_LIBRARIES
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """A call into a group of functions from outside it: the time it took, inclusive."""

    function: FunctionStats
    caller: CallerStats
    caller_owner: str


def entries(profile: RouteProfile, member: Callable[[FunctionId], bool]) -> list[Entry]:
    """Every call edge from outside the group into it. Summing their time counts each
    request's time in the group once, however deep it recurses or calls itself."""
    owners = {fn.function: fn.owner for fn in profile.functions}
    return [
        Entry(fn, edge, owners.get(edge.caller, ""))
        for fn in profile.functions
        if member(fn.function)
        for edge in fn.callers
        if not member(edge.caller) and edge.cumulative_s > 0
    ]


def by_app_function(profile: RouteProfile, calls: Iterable[Entry]) -> dict[FunctionId, float]:
    """Time of the calls per app function making them: a comprehension counts as the
    function around it, a library's call as the app function that called the library."""
    found: dict[FunctionId, float] = defaultdict(float)
    for entry in calls:
        caller: FunctionId | None = entry.caller.caller
        if entry.caller_owner != "app" or entry.caller.caller.name in NESTED_CODE:
            caller = app_caller(profile, entry.caller.caller)
        if caller is not None:
            found[caller] += entry.caller.cumulative_s
    return found


def profiler_shares_threads(session: Session) -> bool:
    """Whether the profile came from Python 3.12+, where one cProfile records every thread
    on one call stack: another thread's events (perfaudit's hang guard, an app's own
    thread) can end a frame early and give its calls the wrong caller, so sums over call
    edges come out short. Rules then also take a group's largest own total as a floor."""
    major, _, rest = session.environment.python.partition(".")
    minor = rest.partition(".")[0]
    return major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= (3, 12)


def largest_inclusive_s(group: Iterable[FunctionStats]) -> float:
    return max((fn.cumulative_s for fn in group), default=0.0)
