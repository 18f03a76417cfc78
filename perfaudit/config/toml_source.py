"""Read the `[tool.perfaudit]` table of a TOML file into the line-keeping tree.

tomllib parses the file but gives no line numbers, so a second, forgiving pass over the
text (`_KeyLines`) records the line of every key, array element and table header it can
see. A value whose line is not found gets its nearest enclosing key's line, and at worst
the table header's: an error always names a real line.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Mapping

from perfaudit.config.nodes import Entry, ListNode, MapNode, Node, ScalarNode, Source, child_path
from perfaudit.errors import UsageError

TABLE = ("tool", "perfaudit")
Key = tuple[str | int, ...]

_TOKEN = re.compile(
    r"""(?P<skip>[ \t\r]+|\#[^\n]*)
    | (?P<nl>\n)
    | (?P<text>\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'[^'\n]*')
    | (?P<punct>[\[\]{},=.])
    | (?P<bare>[^\s\[\]{},=\#"'.]+)""",
    re.VERBOSE,
)


def read_toml(text: str, source: Source) -> MapNode:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else 1
        raise Source(source.path).error(line, "", f"not valid TOML: {exc}.") from None
    table = document.get("tool", {}).get("perfaudit")
    if not isinstance(table, dict):
        raise UsageError(
            f"{source.path}: has no [tool.perfaudit] table.",
            remedy="Add one; see configs/pyproject-example.toml.",
        )
    lines = _KeyLines(text).lines
    # Without its own [tool.perfaudit] header, the table starts at its first sub-key.
    inside = [line for key, line in lines.items() if key[: len(TABLE)] == TABLE]
    lines.setdefault(TABLE, min(inside, default=1))
    return _Builder(lines, source).table(table, TABLE, "")


class _Builder:
    def __init__(self, lines: Mapping[Key, int], source: Source) -> None:
        self.lines = lines
        self.source = source

    def line(self, key: Key) -> int:
        """The line of `key`, else of its nearest recorded ancestor (the table header)."""
        for end in range(len(key), 0, -1):
            if key[:end] in self.lines:
                return self.lines[key[:end]]
        return 1

    def table(self, value: Mapping[str, object], key: Key, path: str) -> MapNode:
        entries = tuple(
            Entry(k, self.node(v, (*key, k), child_path(path, k)), self.line((*key, k)))
            for k, v in value.items()
        )
        return MapNode(entries, self.line(key), path)

    def node(self, value: object, key: Key, path: str) -> Node:
        if isinstance(value, dict):
            return self.table(value, key, path)
        if isinstance(value, list):
            items = (self.node(v, (*key, i), child_path(path, i)) for i, v in enumerate(value))
            return ListNode(tuple(items), self.line(key), path)
        if isinstance(value, str | int | float | bool):
            return ScalarNode(value, self.line(key), path)
        raise self.source.error(  # dates and times: no key takes one
            self.line(key), path, f"unsupported value {value!r}.", remedy="Quote it as a string."
        )


class _KeyLines:
    """A position-only reading of (valid) TOML: key path -> the line it is written on."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Key, int] = {}
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.arrays: dict[Key, int] = {}  # array-of-tables path -> elements seen
        with contextlib.suppress(IndexError):  # best effort: keep what was found
            self._document()

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, int]]:
        tokens, line = [], 1
        for match in _TOKEN.finditer(text):
            kind, value = match.lastgroup, match.group()
            if kind != "skip":
                tokens.append((value if kind != "nl" else "\n", line))
            line += value.count("\n")
        return tokens

    def _peek(self) -> str:
        return self.tokens[self.pos][0]

    def _next(self) -> tuple[str, int]:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _document(self) -> None:
        table: Key = ()
        while self.pos < len(self.tokens):
            token, line = self.tokens[self.pos]
            if token == "\n":
                self.pos += 1
            elif token == "[":
                table = self._header(line)
            else:
                self._pair(table)

    def _header(self, line: int) -> Key:
        self._next()
        is_array = self._peek() == "["
        if is_array:
            self._next()
        parts = self._key_parts("]")
        self._next()
        if is_array:
            self._next()
        resolved: Key = (*self._resolve(parts[:-1]), parts[-1])
        if is_array:
            self.lines.setdefault(resolved, line)
            self.arrays[resolved] = self.arrays.get(resolved, 0) + 1
            resolved = (*resolved, self.arrays[resolved] - 1)
        else:
            resolved = self._resolve(parts)
        self.lines.setdefault(resolved, line)
        return resolved

    def _resolve(self, parts: tuple[str, ...]) -> Key:
        """A header's dotted name, with each array of tables replaced by its last element."""
        resolved: Key = ()
        for part in parts:
            resolved = (*resolved, part)
            if resolved in self.arrays:
                resolved = (*resolved, self.arrays[resolved] - 1)
        return resolved

    def _key_parts(self, end: str) -> tuple[str, ...]:
        parts: list[str] = []
        while self._peek() != end:
            token, _ = self._next()
            if token != ".":
                parts.append(_unquote(token))
        return tuple(parts)

    def _pair(self, table: Key) -> None:
        line = self.tokens[self.pos][1]
        key = (*table, *self._key_parts("="))
        self._next()
        self.lines.setdefault(key, line)
        self._value(key)

    def _value(self, key: Key) -> None:
        token = self._peek()
        if token == "{":
            self._inline_table(key)
        elif token == "[":
            self._array(key)
        else:
            while self._peek() not in {",", "]", "}", "\n"}:
                self._next()

    def _inline_table(self, key: Key) -> None:
        self._next()
        while self._peek() != "}":
            if self._peek() in {",", "\n"}:
                self._next()
                continue
            self._pair(key)
        self._next()

    def _array(self, key: Key) -> None:
        self._next()
        index = 0
        while self._peek() != "]":
            if self._peek() in {",", "\n"}:
                self._next()
                continue
            self.lines.setdefault((*key, index), self.tokens[self.pos][1])
            self._value((*key, index))
            index += 1
        self._next()


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token
