"""capture/rss.py: reading followed processes' RSS from /proc, on a fake /proc (processes
appearing, exiting, PIDs reused, slots missed) and on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfaudit.capture import rss
from perfaudit.capture.rss import RssSampler, read_rss, read_state

PAGE = os.sysconf("SC_PAGE_SIZE")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


class FakeProc:
    """A /proc with the files the sampler reads: stat (state, parent, start time), statm."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.put(999_999, ppid=1, pages=1)  # "self", for rss_available()
        (root / "self").symlink_to(root / "999999")

    def put(self, pid: int, *, ppid: int, pages: int, start: int = 100, state: str = "S") -> None:
        folder = self.root / str(pid)
        folder.mkdir(exist_ok=True)
        fields = [state, str(ppid), *["0"] * 17, str(start), "0", "0"]
        (folder / "stat").write_text(f"{pid} (gunicorn: worker [app) x]) {' '.join(fields)}\n")
        (folder / "statm").write_text(f"5000 {pages} 300 10 0 900 0\n")

    def remove(self, pid: int) -> None:
        for name in ("stat", "statm"):
            (self.root / str(pid) / name).unlink()
        (self.root / str(pid)).rmdir()


def readings(sampler: RssSampler) -> list[tuple[int, list[int]]]:
    return [(s.pid, [b // PAGE for b in s.rss_bytes]) for s in sampler.series()]


def test_stat_is_read_past_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.put(10, ppid=7, pages=3, start=4242, state="R")
    state = read_state(10, tmp_path)
    assert state is not None and (state.running, state.ppid, state.start_ticks) == (True, 7, 4242)
    assert read_rss(10, tmp_path) == 3 * PAGE
    assert read_rss(11, tmp_path) is None and read_state(11, tmp_path) is None
    proc.put(10, ppid=7, pages=0, start=4242, state="R")  # exiting: its memory released
    assert read_rss(10, tmp_path) is None


def test_the_target_and_its_workers_each_get_a_series(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.put(10, ppid=1, pages=100)  # gunicorn's arbiter
    proc.put(11, ppid=10, pages=200)  # a worker
    proc.put(12, ppid=11, pages=50)  # a worker's own child
    proc.put(20, ppid=1, pages=999)  # not below the target
    sampler = RssSampler(10, subprocesses=True, proc=tmp_path)
    assert sampler.read_slot(0)
    proc.put(11, ppid=10, pages=210)
    proc.remove(12)  # exited: its series ends
    proc.put(13, ppid=10, pages=70)  # a worker started late: a series from its first reading
    assert sampler.read_slot(1)
    proc.put(11, ppid=10, pages=220)
    proc.put(12, ppid=10, pages=80, start=500)  # PID 12 again, another process
    assert sampler.read_slot(2)
    assert readings(sampler) == [
        (10, [100, 100, 100]),
        (11, [200, 210, 220]),
        (12, [50]),
        (13, [70, 70]),
        (12, [80]),
    ]
    assert {s.interval_s for s in sampler.series()} == {rss.INTERVAL_S}


def test_without_subprocesses_only_the_target(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.put(10, ppid=1, pages=100)
    proc.put(11, ppid=10, pages=200)
    sampler = RssSampler(10, proc=tmp_path)
    assert sampler.read_slot(0)
    assert readings(sampler) == [(10, [100])]


def test_a_zombie_or_a_reused_pid_ends_the_series_and_then_nothing_is_left(
    tmp_path: Path,
) -> None:
    proc = FakeProc(tmp_path)
    proc.put(10, ppid=1, pages=100)
    sampler = RssSampler(10, proc=tmp_path)
    assert sampler.read_slot(0)
    proc.put(10, ppid=1, pages=0, state="Z")
    assert not sampler.read_slot(1)
    proc.put(10, ppid=1, pages=300, start=900)  # a new process took the PID: not the target
    assert not sampler.read_slot(2)
    assert readings(sampler) == [(10, [100])]


def test_a_missed_slot_repeats_the_reading_before_it(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.put(10, ppid=1, pages=100)
    sampler = RssSampler(10, proc=tmp_path)
    sampler.read_slot(0)
    proc.put(10, ppid=1, pages=130)
    sampler.read_slot(3)  # the thread woke late: slots 1 and 2 passed unread
    assert readings(sampler) == [(10, [100, 100, 100, 130])]


def test_nothing_is_read_where_there_is_no_proc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    sampler = RssSampler(os.getpid(), interval_s=0.01)
    sampler.start()
    sampler.stop()
    assert sampler.series() == ()
    empty = RssSampler(os.getpid(), interval_s=0.01, proc=tmp_path / "none")
    monkeypatch.undo()
    empty.start()
    empty.stop()
    assert empty.series() == ()


def sleeping_python() -> subprocess.Popen[str]:
    """A Python process that has started up (its memory settled), sleeping."""
    code = "import time; print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    return child


@linux_only
def test_reads_a_real_process_until_its_limit() -> None:
    child = sleeping_python()
    try:
        sampler = RssSampler(child.pid, interval_s=0.05, limit_s=0.5)
        sampler.start()
        deadline = time.monotonic() + 20
        while sampler.running:
            assert time.monotonic() < deadline, "the sampler did not stop at its limit"
            time.sleep(0.02)
        [series] = sampler.series()
        assert series.pid == child.pid and series.interval_s == 0.05
        assert len(series.rss_bytes) == 11  # 0, 0.05, ... 0.5 s, a slot missed repeated
        status = Path(f"/proc/{child.pid}/status").read_text()
        vm_rss_kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS"))
                        .split()[1])  # fmt: skip
        assert series.rss_bytes[-1] == pytest.approx(vm_rss_kb * 1024, rel=0.2)
    finally:
        child.kill()
        child.communicate()


@linux_only
def test_a_process_that_exits_stops_its_series_and_the_thread() -> None:
    child = sleeping_python()
    sampler = RssSampler(child.pid, interval_s=0.02)
    sampler.start()
    try:
        time.sleep(0.3)
    finally:
        child.kill()
        child.communicate()
    deadline = time.monotonic() + 20
    while sampler.running:
        assert time.monotonic() < deadline, "the sampler outlived every process it followed"
        time.sleep(0.02)
    [series] = sampler.series()
    assert len(series.rss_bytes) >= 2 and all(b > 0 for b in series.rss_bytes)
    before = series.rss_bytes
    sampler.stop()
    sampler.stop()  # twice is fine
    assert sampler.series()[0].rss_bytes == before
