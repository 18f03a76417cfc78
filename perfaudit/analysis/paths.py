"""Short, recognisable file paths for reports: the app's files relative to its folder,
libraries from their package, the standard library from its own root."""

from __future__ import annotations

import re
import sysconfig
from pathlib import PurePath

from perfaudit.model import CodeLocation

_STDLIB = sysconfig.get_paths()["stdlib"]
_ANY_STDLIB = re.compile(r"/lib/python3\.\d+/")
BUILTIN = "<built-in>"


def display_path(file: str, app_root: str) -> str:
    if file == "~":
        return BUILTIN
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in file:
            return file.split(marker, 1)[1]
    if app_root and file.startswith(app_root.rstrip("/") + "/"):
        return file[len(app_root.rstrip("/")) + 1 :]
    if file.startswith(_STDLIB + "/"):
        return file[len(_STDLIB) + 1 :]
    stdlib = _ANY_STDLIB.search(file)  # a session recorded by another interpreter
    if stdlib:
        return file[stdlib.end() :]
    return str(PurePath(file))


def displayed(location: CodeLocation, app_root: str) -> CodeLocation:
    """A location as reports show it: the file by its short path."""
    return CodeLocation(display_path(location.file, app_root), location.line, location.function)


def display_function(name: str) -> str:
    """pstats names built-ins like "<method 'poll' of 'select.epoll' objects>"."""
    if name.startswith("<method '") and "' of '" in name:
        method, _, owner = name[len("<method '") :].partition("' of '")
        return f"{owner.split(' ')[0].rstrip(chr(39))}.{method}"
    if name.startswith("<built-in method "):
        return name[len("<built-in method ") :].rstrip(">")
    return name
