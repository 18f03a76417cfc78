"""Naming a sampled stack by its route: exactly, from the app's route table when the user
gave `--app`; otherwise after the endpoint function, which is what the stack shows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from perfaudit.analysis.paths import display_path
from perfaudit.analysis.sampling.stacks import app_stacks, bare
from perfaudit.model import EndpointRoute, RouteKey, SamplingRun, StackFrame


def same_file(a: str, b: str) -> bool:
    """A recording without --full-filenames names files from their package ("app/main.py")."""
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


class RouteNames:
    def __init__(
        self, endpoints: Iterable[EndpointRoute], entries: Iterable[StackFrame], app_root: str
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._app_root = app_root
        entries = list(entries)
        distinct = {(f.file, f.function): f for f in entries}.values()
        names = Counter(shown_name(f.function) for f in distinct)
        # Two endpoints of one name in different files are told apart by their file.
        self._ambiguous = {name for name, count in names.items() if count > 1}

    def route(self, entry: StackFrame) -> RouteKey:
        known = self.known(entry)
        if known is not None:
            return known
        return stand_in(entry, self._app_root, shown_name(entry.function) in self._ambiguous)

    def known(self, entry: StackFrame) -> RouteKey | None:
        for endpoint in self._endpoints:
            if same_file(endpoint.file, entry.file) and (
                endpoint.function == entry.function
                or bare(endpoint.function) == bare(entry.function)
            ):
                return endpoint.route
        return None


def shown_name(function: str) -> str:
    """ "make_app.<locals>.root" → "make_app.root"; "Views.get" stays."""
    return function.replace(".<locals>", "")


def stand_in(entry: StackFrame, app_root: str, with_file: bool = False) -> RouteKey:
    """A route named after its endpoint, with no method: "sleep_async()" (its report rows
    and findings then read "… in sleep_async()")."""
    name = f"{shown_name(entry.function)}()"
    if with_file:
        name += f" in {display_path(entry.file, app_root)}"
    return RouteKey("", name)


def route_names(run: SamplingRun, app_root: str) -> RouteNames:
    """Names for every endpoint the recording saw (stand-ins told apart across the run)."""
    entries = [
        work.entry
        for process in run.processes
        for thread in process.threads
        for _, work in app_stacks(thread)
        if work.entry is not None
    ]
    return RouteNames(run.endpoints, entries, app_root)
