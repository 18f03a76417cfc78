"""Memoise a module-level function for the length of an experiment: every module binding
of it (its own, and any `from … import`) points at a wrapper that, while switched on,
answers from a `functools.lru_cache`; arguments that cannot be hashed go to the original."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from perfaudit.agent.verify.base import Switch
from perfaudit.agent.verify.patching import rebound, references


def memoised(function: Callable[..., Any], root: Path) -> Callable[[], Any]:
    @asynccontextmanager
    async def apply() -> AsyncIterator[Switch]:
        cached = functools.lru_cache(maxsize=None)(function)
        on = [False]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not on[0]:
                return function(*args, **kwargs)
            try:
                return cached(*args, **kwargs)
            except TypeError:  # an unhashable argument: lru_cache cannot key it
                if _hashable(args, kwargs):
                    raise
                return function(*args, **kwargs)

        def switch(value: bool) -> None:
            on[0] = value

        with rebound(references(function, root), wrapper):
            try:
                yield switch
            finally:
                cached.cache_clear()

    return apply


def _hashable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    try:
        hash((args, tuple(sorted(kwargs.items()))))
    except TypeError:
        return False
    return True
