"""A config file as a small typed tree in which every value keeps its line.

YAML and TOML are both read into this tree, so validation is written once and every error
can say `file:line: key.path: what is wrong`. Typed accessors raise `UsageError`s that name
the expected type, and `check_keys` turns a typo into "did you mean …?".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from perfaudit.config.model import Origin
from perfaudit.errors import UsageError

Scalar = str | int | float | bool | None
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Source:
    """Where the tree came from: errors start with `file:line:`, key paths with `prefix`."""

    path: Path
    prefix: str = ""  # "tool.perfaudit" for a pyproject.toml table

    def full_path(self, key_path: str) -> str:
        if not (self.prefix and key_path):
            return self.prefix or key_path
        return f"{self.prefix}.{key_path}"

    def error(self, line: int, key_path: str, message: str, remedy: str = "") -> UsageError:
        where = self.full_path(key_path)
        head = f"{self.path}:{line}: {where}: " if where else f"{self.path}:{line}: "
        return UsageError(head + message, remedy=remedy)


@dataclass(frozen=True, slots=True)
class ScalarNode:
    value: Scalar
    line: int
    path: str


@dataclass(frozen=True, slots=True)
class ListNode:
    items: tuple[Node, ...]
    line: int
    path: str


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    value: Node
    line: int  # the key's line: where an unknown key is reported


@dataclass(frozen=True, slots=True)
class MapNode:
    entries: tuple[Entry, ...]
    line: int
    path: str

    def get(self, key: str) -> Node | None:
        return next((e.value for e in self.entries if e.key == key), None)

    def keys(self) -> list[str]:
        return [e.key for e in self.entries]


Node = ScalarNode | ListNode | MapNode


def child_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{parent}.{key}" if parent else key
    # Route keys such as "GET /quotes/{sku}" are quoted, as a user would index them.
    return f'{parent}["{key}"]' if parent else f'"{key}"'


def describe(node: Node) -> str:
    """The user's value and its type, for "expected X, got …" messages."""
    if isinstance(node, MapNode):
        return "a mapping"
    if isinstance(node, ListNode):
        return "a list"
    value = node.value
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value} (a number)"
    return f'"{value}" (a string)'


class Reader:
    """Typed access to a tree, raising errors that name the file, the line and the key."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def error(self, node: Node | Entry, message: str, remedy: str = "") -> UsageError:
        path = node.value.path if isinstance(node, Entry) else node.path
        return self.source.error(node.line, path, message, remedy)

    def origin(self, node: Node | Entry) -> Origin:
        path = node.value.path if isinstance(node, Entry) else node.path
        return Origin(file=self.source.path, line=node.line, key_path=self.source.full_path(path))

    def expect_map(self, node: Node, what: str = "a mapping of keys") -> MapNode:
        if not isinstance(node, MapNode):
            raise self.error(node, f"expected {what}, got {describe(node)}.")
        return node

    def expect_list(self, node: Node, what: str = "a list") -> ListNode:
        if not isinstance(node, ListNode):
            raise self.error(node, f"expected {what}, got {describe(node)}.")
        return node

    def check_keys(self, node: MapNode, known: Sequence[str]) -> None:
        for entry in node.entries:
            if entry.key in known:
                continue
            close = difflib.get_close_matches(entry.key, known, n=1)
            message = f'"{entry.key}" is not a key here'
            message += f'; did you mean "{close[0]}"?' if close else "."
            remedy = f"Known keys: {', '.join(known)}."
            raise self.source.error(entry.line, entry.value.path, message, remedy)

    def string(self, node: Node) -> str:
        if isinstance(node, ScalarNode) and isinstance(node.value, str):
            return node.value
        raise self.error(node, f"expected a string, got {describe(node)}.")

    def boolean(self, node: Node) -> bool:
        if isinstance(node, ScalarNode) and isinstance(node.value, bool):
            return node.value
        raise self.error(node, f"expected true or false, got {describe(node)}.")

    def integer(self, node: Node) -> int:
        if isinstance(node, ScalarNode) and type(node.value) is int:
            return node.value
        raise self.error(node, f"expected a whole number, got {describe(node)}.")

    def number(self, node: Node) -> float:
        value = node.value if isinstance(node, ScalarNode) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise self.error(node, f"expected a number, got {describe(node)}.")

    def string_pairs(self, node: Node, what: str) -> tuple[tuple[str, str], ...]:
        """A mapping of names to scalar values (headers, form fields), as strings."""
        mapping = self.expect_map(node, f"a mapping of {what}")
        pairs = []
        for entry in mapping.entries:
            value = entry.value
            if not isinstance(value, ScalarNode) or value.value is None:
                raise self.error(value, f"expected a string or number, got {describe(value)}.")
            text = value.value if isinstance(value.value, str) else _scalar_text(value.value)
            pairs.append((entry.key, text))
        return tuple(pairs)


def _scalar_text(value: int | float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def plain(node: Node) -> object:
    """The tree as plain Python values (for a JSON body), with nothing lost but lines."""
    if isinstance(node, ScalarNode):
        return node.value
    if isinstance(node, ListNode):
        return [plain(item) for item in node.items]
    return {entry.key: plain(entry.value) for entry in node.entries}
