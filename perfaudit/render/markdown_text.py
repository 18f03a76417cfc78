"""Markdown that app-supplied text cannot break: escaped inline text, unbreakable code
spans, table rows, and a size budget that cuts between rows rather than inside markup.

Route paths, messages, file names and scenario names come from the app or its config; a
`|` would split a table cell, a newline end the row, `<img …>` be HTML, `[x](y)` a link.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# One pass, character by character, so no replacement is escaped again.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;"}
# Inline markup of CommonMark plus GitHub's ~strike~ and $math$: a backslash makes each
# literal. (`#`, `-`, `+` and `1.` matter only at the start of a line, handled apart.)
_BACKSLASHED = frozenset("\\`*_[]~$")
_MAP = {**_ENTITIES, **{c: "\\" + c for c in _BACKSLASHED}}
# At a line start: a heading, a bullet, a thematic break ("---"), an ordered list item.
_MARKER = re.compile(r"^(?:#{1,6}(?=\s|$)|[+-])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
# C0 controls, DEL and C1 controls left after whitespace is collapsed, and lone surrogates
# (which no encoder accepts).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BACKTICKS = re.compile(r"`+")


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) as one space, control characters dropped: a
    newline would end a table row or start a new block."""
    return _CONTROL.sub("", " ".join(text.split()))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def md_escape(text: str) -> str:
    """Text for a paragraph, a list item or a table cell, shown literally: no markup, no
    HTML, no cell break. Clip before escaping so an entity is never cut in half."""
    flat = one_line(text)
    escaped = "".join(_MAP.get(char, char) for char in flat)
    # "# x", "- x", "1. x" would become a heading or a list item at a line start.
    if _MARKER.match(escaped):
        return "\\" + escaped
    return _ORDERED.sub(r"\1\\\2", escaped, count=1)


def code(text: str, *, in_table: bool = False) -> str:
    """A code span no content can close: its fence is one backtick longer than the longest
    run inside (CommonMark). In a table, `|` still splits cells inside code, so it is
    backslash-escaped, which GFM undoes after splitting."""
    flat = one_line(text)
    if not flat:
        return ""
    longest = max((len(run) for run in _BACKTICKS.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    if in_table:
        flat = flat.replace("|", "\\|")
    # A space on both sides is stripped by the parser; it keeps a leading or trailing
    # backtick from joining the fence.
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[str, list[str]]:
    """The header (with its delimiter row) and the body rows; cells are already escaped."""
    head = _row(headers) + "\n" + _row(["---"] * len(headers))
    return head, [_row(cells) for cells in rows]


def _row(cells: Sequence[str]) -> str:
    # A space either side of each `|` keeps a trailing backslash in a cell from escaping it.
    return "| " + " | ".join(cell or " " for cell in cells) + " |"


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of the document that is shown whole, or cut between its rows: `head` and
    `tail` always together (a `<details>` is always closed)."""

    head: str
    rows: Sequence[str] = field(default=())
    tail: str = ""

    def text(self, rows: int | None = None) -> str:
        shown = self.rows if rows is None else self.rows[:rows]
        return "\n".join(part for part in (self.head, *shown, self.tail) if part)


def utf16_units(text: str) -> int:
    """GitHub counts comment length as JavaScript does: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def fit(blocks: Sequence[Block], limit: int, note: str) -> str:
    """The blocks joined by blank lines, within `limit` units: the first block that does
    not fit is cut between rows and followed by `note` (its `{omitted}`, the number of
    blocks cut or left out, and `{total}` filled in)."""
    parts: list[str] = []
    used = utf16_units(note.format(omitted=len(blocks), total=len(blocks))) + 4
    for index, block in enumerate(blocks):
        text = block.text()
        if used + utf16_units(text) + 2 <= limit:
            parts.append(text)
            used += utf16_units(text) + 2
            continue
        kept = _rows_that_fit(block, limit - used - 2)
        if kept is not None:
            parts.append(block.text(kept))
        parts.append(note.format(omitted=len(blocks) - index, total=len(blocks)))
        break
    return "\n\n".join(parts) + "\n"


def _rows_that_fit(block: Block, room: int) -> int | None:
    """How many of the block's rows fit in `room` with its head and tail; None if none."""
    size = utf16_units(block.head) + utf16_units(block.tail) + 1
    kept = 0
    for row in block.rows:
        size += utf16_units(row) + 1
        if size > room:
            break
        kept += 1
    return kept or None
