"""`.pstats` files (the marshal format of the stdlib's pstats), opened by snakeviz and tuna.

Named pstats_format so that it never shadows the stdlib module.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from perfaudit.fileio import atomic_write
from perfaudit.model import FunctionId, RouteProfile

PstatsDict = dict[
    tuple[str, int, str], tuple[int, int, float, float, dict[tuple[str, int, str], Any]]
]


def to_pstats_dict(profiles: Iterable[RouteProfile]) -> PstatsDict:
    """Every route's profile summed into one pstats table."""
    table: PstatsDict = {}
    for profile in profiles:
        for fn in profile.functions:
            key = _key(fn.function)
            cc, nc, tt, ct, callers = table.get(key, (0, 0, 0.0, 0.0, {}))
            for edge in fn.callers:
                ckey = _key(edge.caller)
                old = callers.get(ckey, (0, 0, 0.0, 0.0))
                callers[ckey] = (
                    old[0] + edge.calls,
                    old[1] + edge.primitive_calls,
                    old[2] + edge.self_s,
                    old[3] + edge.cumulative_s,
                )
            table[key] = (
                cc + fn.primitive_calls,
                nc + fn.calls,
                tt + fn.self_s,
                ct + fn.cumulative_s,
                callers,
            )
    return table


def write_pstats(profiles: Iterable[RouteProfile], path: Path) -> None:
    atomic_write(path, marshal.dumps(to_pstats_dict(profiles)))


def _key(function: FunctionId) -> tuple[str, int, str]:
    return (function.file, function.line, function.name)
