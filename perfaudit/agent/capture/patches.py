"""Methods of a library's classes wrapped for one phase and put back after it: the
statement hooks (drivers.py) and the pool watch (pools.py). A method a class inherits is
wrapped on the class itself and removed again, so the base class is never touched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Wrapper = Callable[[Any], Any]  # the original method → its replacement


class ClassPatches:
    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    @property
    def active(self) -> bool:
        return bool(self._undo)

    def wrap(self, owner: type, name: str, wrapper: Wrapper) -> None:
        """Replace `owner.name` with `wrapper(original)`; a method it lacks is left alone
        (another version of the library)."""
        own = name in owner.__dict__
        original = owner.__dict__[name] if own else getattr(owner, name, None)
        if original is None:
            return
        setattr(owner, name, wrapper(original))
        if own:
            self._undo.append(lambda: setattr(owner, name, original))
        else:
            self._undo.append(lambda: delattr(owner, name))

    def undo(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
