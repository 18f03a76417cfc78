"""What kind of profile a file is, read by content (not by its name): a perfaudit JSON
report or session, speedscope JSON, a `.pstats` file, or collapsed stacks.

Every kind is read into the same shape, pstats-shaped profiles plus weighted stacks, so
one view shows them all. A JSON report keeps hotspots and findings but no call graph.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import pstats
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from perfaudit.fileio import read_input, regular_file_size
from perfaudit.formats.collapsed import UNKNOWN, read_collapsed
from perfaudit.formats.report_json import ReportFormatError, parse_report
from perfaudit.formats.speedscope import read_speedscope
from perfaudit.formats.stacks import (
    Owner,
    ProfileFormatError,
    StackGroup,
    profile_of,
    reconstructed_stacks,
    session_stacks,
)
from perfaudit.model import (
    CallerStats,
    FunctionId,
    FunctionStats,
    RouteKey,
    RouteProfile,
    Session,
    SessionFormatError,
)
from perfaudit.model.saved_report import SavedReport
from perfaudit.model.session import SESSION_FORMAT

FileKind = Literal["report", "session", "speedscope", "pstats", "collapsed"]
KIND_NAMES: dict[FileKind, str] = {
    "report": "a perfaudit JSON report",
    "session": "a perfaudit session",
    "speedscope": "a speedscope profile",
    "pstats": "a .pstats profile (cProfile)",
    "collapsed": "collapsed stacks (flamegraph.pl, inferno)",
}


@dataclass(frozen=True, slots=True)
class ProfileFile:
    path: str
    kind: FileKind
    # One per route, thread or profile in the file. Times are seconds, except for files
    # whose weights are not time (collapsed stacks, speedscope "none"): then they are the
    # file's own counts, and only shares mean anything (`timed` is False).
    profiles: tuple[RouteProfile, ...]
    stacks: tuple[StackGroup, ...]  # real or rebuilt stacks, per profile, for call trees
    timed: bool = True
    report: SavedReport | None = None
    session: Session | None = None

    @property
    def description(self) -> str:
        return KIND_NAMES[self.kind]

    @property
    def routes(self) -> tuple[str, ...]:
        """The names `--route` can pick: routes, threads, or the file's profiles."""
        if self.report is not None:
            labels = [r.label for r in self.report.routes] + list(self.report.route_hotspots)
            return tuple(dict.fromkeys(labels))
        names = [str(p.route) for p in self.profiles] + [g.name for g in self.stacks]
        return tuple(dict.fromkeys(names))


def read_profile_file(path: Path, *, owner: Owner) -> ProfileFile:
    """OSError when the file cannot be read; ProfileFormatError (one clause, naming what is
    wrong) when it is empty, corrupt, or no kind perfaudit reads. `owner` names who owns a
    function of a foreign file (app, framework, library, stdlib). The kind is told from the
    file's start; collapsed stacks, the one format that grows with the recording, are read
    line by line, so neither their size nor READ_LIMIT bounds them, only their distinct
    stacks; the others are read whole, up to READ_LIMIT."""
    what = "a profile, stacks or report file"
    regular_file_size(path, what)
    with open(path, "rb") as stream:
        head = stream.read(SNIFF_BYTES)
    if not head.strip():
        raise ProfileFormatError("it is empty")
    text = _text(head)
    if text is not None and text.lstrip().startswith(("{", "[")):
        raw = read_input(path, what)
        return _json_file(path, raw.decode("utf-8", errors="replace"), raw, owner)
    if text is not None and not _binary(head):
        return _collapsed_file(path, owner)
    read_input(path, what)  # the size check: pstats reads the file itself
    return _pstats_file(path, owner)


# Enough of a file's start to tell its kind; a collapsed line longer than LINE_LIMIT is not
# one (a 5,000-frame stack of 200-character frames is 1 MiB).
SNIFF_BYTES = 64 * 1024
LINE_LIMIT = 4 * 2**20


def _text(head: bytes) -> str | None:
    """The start of a UTF-8 file as text (a character cut at the end is no error)."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return None


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _binary(head: bytes) -> bool:
    return _CONTROL.search(head) is not None


def _json_file(path: Path, text: str, raw: bytes, owner: Owner) -> ProfileFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if raw[:1] == b"{":  # marshal's dict type code is "{" too: perhaps a .pstats
            with contextlib.suppress(ProfileFormatError):
                return _pstats_file(path, owner)
        raise ProfileFormatError(f"it is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ProfileFormatError("it is JSON but not a report, session or speedscope profile")
    if data.get("format") == SESSION_FORMAT:
        return _session_file(path, text)
    if "schema_version" in data:
        return _report_file(path, data)
    if "speedscope" in str(data.get("$schema", "")) or "shared" in data:
        groups = read_speedscope(data)
        timed = all(group.seconds_per_unit is not None for group in groups)
        return _from_stacks(path, "speedscope", groups, owner, timed=timed)
    raise ProfileFormatError("it is JSON but not a report, session or speedscope profile")


def _session_file(path: Path, text: str) -> ProfileFile:
    try:
        session = Session.from_json(text)
    except SessionFormatError as exc:
        raise ProfileFormatError(str(exc)) from None
    return ProfileFile(
        str(path), "session", session.profiles, session_stacks(session), session=session
    )


def _report_file(path: Path, data: dict[str, Any]) -> ProfileFile:
    try:
        report = parse_report(data, source=str(path))
    except ReportFormatError as exc:
        raise ProfileFormatError(str(exc)) from None
    return ProfileFile(str(path), "report", (), (), report=report)


def _collapsed_file(path: Path, owner: Owner) -> ProfileFile:
    with open(path, encoding="utf-8", errors="replace") as stream:
        groups = read_collapsed(_bounded_lines(stream), name=path.name)
    return _from_stacks(path, "collapsed", groups, owner, timed=False)


def _bounded_lines(stream: TextIO) -> Iterator[str]:
    while line := stream.readline(LINE_LIMIT + 1):
        if len(line) > LINE_LIMIT:
            raise ProfileFormatError(
                f"a line is longer than {LINE_LIMIT // 2**20} MiB: not collapsed stacks"
            )
        yield line


def _from_stacks(
    path: Path, kind: FileKind, groups: tuple[StackGroup, ...], owner: Owner, *, timed: bool
) -> ProfileFile:
    profiles = tuple(profile_of(group, owner) for group in groups)
    return ProfileFile(str(path), kind, profiles, groups, timed=timed)


def _pstats_file(path: Path, owner: Owner) -> ProfileFile:
    # pstats reads the file with marshal, which trusts its input: this reads the user's
    # own profiles, as pstats, snakeviz and tuna do.
    try:
        stats = pstats.Stats(str(path), stream=io.StringIO())
        table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        functions = tuple(_function(key, value, owner) for key, value in table.items())
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError):
        raise ProfileFormatError(UNKNOWN) from None
    if not functions:
        raise ProfileFormatError(UNKNOWN)
    profile = RouteProfile(
        route=RouteKey("", path.name),
        profiler="pstats",
        requests=0,
        request_time_s=sum(fn.self_s for fn in functions),
        functions=functions,
    )
    return ProfileFile(str(path), "pstats", (profile,), (reconstructed_stacks(profile),))


def _function(key: Any, value: Any, owner: Owner) -> FunctionStats:
    """One pstats entry: (file, line, name) → (primitive calls, calls, self s, cum s,
    {caller key: (calls, primitive calls, self s, cum s)})."""
    fid = _fid(key)
    primitive, calls, self_s, cumulative_s, callers = value
    return FunctionStats(
        function=fid,
        owner=owner(fid.file, fid.name),
        calls=int(calls),
        primitive_calls=int(primitive),
        self_s=float(self_s),
        cumulative_s=float(cumulative_s),
        callers=tuple(
            CallerStats(_fid(ckey), int(e[0]), int(e[1]), float(e[2]), float(e[3]))
            for ckey, e in callers.items()
        ),
    )


def _fid(key: Any) -> FunctionId:
    file, line, name = key
    if not isinstance(file, str) or not isinstance(name, str):
        raise TypeError("not a pstats key")
    return FunctionId(file, int(line), name)
