"""Reading any file `perfaudit view` takes, by its content: .pstats (through the stdlib's
pstats), speedscope, collapsed stacks, a perfaudit report or session; and one clear
clause for anything else."""

from __future__ import annotations

import io
import marshal
import pstats
from pathlib import Path

import pytest
from sampling_builders import RECORDED_APP, recorded
from test_collapsed import TARIFF, quote_profile
from unit_builders import hotspot_session, session

from perfaudit.analysis.report import build_report
from perfaudit.analysis.sampling import route_profiles
from perfaudit.errors import UsageError
from perfaudit.formats.collapsed import write_collapsed
from perfaudit.formats.profile_files import read_profile_file
from perfaudit.formats.pstats_format import write_pstats
from perfaudit.formats.speedscope import write_speedscope
from perfaudit.formats.stacks import ProfileFormatError
from perfaudit.render.json_report import render_json, write_json


def owner(file: str, name: str) -> str:
    return "app" if file.startswith("/srv/") else "stdlib"


def read(path: Path):  # type: ignore[no-untyped-def]
    return read_profile_file(path, owner=owner)


def test_pstats_reads_back_what_perfaudit_wrote(tmp_path: Path) -> None:
    path = tmp_path / "p.pstats"
    original = quote_profile()
    write_pstats([original], path)

    viewed = read(path)

    assert viewed.kind == "pstats"
    [prof] = viewed.profiles
    back = {f.function: f for f in prof.functions}
    assert set(back) == {f.function for f in original.functions}
    tariff = back[TARIFF]
    assert (tariff.calls, tariff.self_s, tariff.cumulative_s) == (20, 0.5, 0.6)
    assert tariff.owner == "app"
    assert [e.caller.name for e in tariff.callers] == ["quote"]
    assert prof.request_time_s == pytest.approx(0.61)
    assert viewed.stacks[0].total == pytest.approx(610_000)  # rebuilt for the call tree


def test_pstats_of_an_attach_session_loads_in_the_stdlib(tmp_path: Path) -> None:
    path = tmp_path / "attach.pstats"
    # What `perfaudit attach` keeps as its session's profiles: built from samples.
    profiles = route_profiles(recorded("sleep_sync_asyncio"), RECORDED_APP)
    assert profiles and all(fn.calls == 0 for p in profiles for fn in p.functions)

    write_pstats(profiles, path)
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("cumulative").print_stats(10)
    stats.print_callers(5)

    assert stats.total_calls == 0  # type: ignore[attr-defined]
    assert "sleep" in out.getvalue()
    assert read(path).profiles[0].request_time_s > 0


def test_speedscope_collapsed_report_and_session_are_told_apart(tmp_path: Path) -> None:
    s = session(profiles=[quote_profile()])
    write_speedscope(s, tmp_path / "a.json")
    write_collapsed(s, tmp_path / "b.txt")
    write_json(build_report(hotspot_session()), tmp_path / "c.json")
    (tmp_path / "d.json").write_text(hotspot_session().to_json())

    kinds = [read(tmp_path / name).kind for name in ("a.json", "b.txt", "c.json", "d.json")]

    assert kinds == ["speedscope", "collapsed", "report", "session"]
    assert read(tmp_path / "b.txt").timed is False  # counts, not seconds
    report = read(tmp_path / "c.json").report
    assert report is not None and report.findings[0].function == "tariff_table"
    assert read(tmp_path / "d.json").routes == ("GET /quote/{sku}",)


def test_the_kind_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    path = tmp_path / "profile.txt"
    write_pstats([quote_profile()], path)

    assert read(path).kind == "pstats"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "it is empty"),
        (b"  \n", "it is empty"),
        (bytes(range(256)) * 4, "not a .pstats, speedscope, collapsed-stack or perfaudit"),
        (b"just some notes\n", "not a .pstats, speedscope, collapsed-stack or perfaudit"),
        (b'{"a": 1', "not valid JSON"),
        (b"[1, 2]", "not a report, session or speedscope"),
        (b'{"hello": "world"}', "not a report, session or speedscope"),
        (b'{"schema_version": 9}', "schema_version is 9"),
        (b'{"format": "perfaudit-session", "version": 1}', "malformed session"),
        (marshal.dumps({"not": "stats"}), "not a .pstats"),
        (marshal.dumps([1, 2, 3]), "not a .pstats"),
        (marshal.dumps({}), "not valid JSON"),  # b"{0": no functions, and not JSON
    ],
)
def test_anything_else_is_one_clause(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(content)

    with pytest.raises(ProfileFormatError, match=message):
        read(path)


def test_a_truncated_pstats_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.pstats"
    write_pstats([quote_profile()], path)
    path.write_bytes(path.read_bytes()[:40])

    with pytest.raises(ProfileFormatError):
        read(path)


def test_collapsed_stacks_are_read_line_by_line_past_the_whole_file_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 #1: collapsed stacks grow with the recording; they are streamed, so the
    limit on files read whole (here 1 KiB) does not apply, and repeated stacks merge."""
    from perfaudit import fileio
    from perfaudit.formats import profile_files

    monkeypatch.setattr(
        profile_files, "read_input", lambda path, what: fileio.read_input(path, what, 1024)
    )
    stacks = tmp_path / "long.txt"
    line = "thread 1 (MainThread);main (app.py:1);work (app.py:5) 3\n"
    stacks.write_text(line * 200)  # 11 KiB
    (group,) = read(stacks).stacks
    assert [(len(s.frames), s.weight) for s in group.stacks] == [(2, 600.0)]
    report = tmp_path / "report.json"
    report.write_text(render_json(build_report(session())) + " " * 2048)
    with pytest.raises(UsageError, match="at most 0 MiB"):
        read(report)


def test_a_line_past_the_line_limit_is_not_collapsed_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perfaudit.formats import profile_files

    monkeypatch.setattr(profile_files, "LINE_LIMIT", 100)
    stacks = tmp_path / "wide.txt"
    stacks.write_text("main (app.py:1) 1\n" + ";".join(["f (app.py:2)"] * 20) + " 1\n")
    with pytest.raises(ProfileFormatError, match="a line is longer than"):
        read(stacks)
