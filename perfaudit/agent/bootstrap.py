"""The agent's first lines, run as a script by the CLI in the app's interpreter:
`python …/perfaudit/agent/bootstrap.py FD`. Written for any Python 3, so that an interpreter
too old for the agent fails with a code the CLI explains, not a SyntaxError.

perfaudit's package is registered by its folder alone: putting the folder above it on
sys.path would also expose whatever is installed beside perfaudit (typer, rich, another
pydantic) to the app. A script file (rather than `python -c`) keeps the bottom frame of
every stack one of perfaudit's own, never mistaken for the app's or a library's.
"""

import sys

EXIT_OLD_PYTHON = 97
MIN_PYTHON = (3, 10)


def start() -> None:
    startup_modules = frozenset(sys.modules)
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        # As under `python -c` or uvicorn: the current folder first, not this script's
        # (whose modules would shadow the app's `main`, `routes`, `protocol`…).
        sys.path[0] = ""
    if sys.version_info < MIN_PYTHON:
        sys.exit(EXIT_OLD_PYTHON)
    import importlib.util

    folder = os.path.dirname(here)
    spec = importlib.util.spec_from_file_location(
        "perfaudit", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["perfaudit"] = package
    spec.loader.exec_module(package)
    import perfaudit.agent

    perfaudit.agent.STARTUP_MODULES = startup_modules
    from perfaudit.agent.main import main

    main()


if __name__ == "__main__":
    start()
