"""Setup work that should happen once (settings, type adapters, templates, regexes, parsed
config files), recognised in a route's profile: per-request-setup reports it, cacheable-call
leaves it to that rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from perfaudit.analysis.context import app_caller
from perfaudit.model import FunctionId, FunctionStats, RouteProfile

MODEL_ADVICE = (
    "load it once in the lifespan (kept on app.state or yielded as state) and share it "
    "between requests"
)


# Built about once per request or more: "per request". (A lower count is a cache that
# misses sometimes, not setup.)
MIN_CALLS_PER_REQUEST = 0.9


@dataclass(frozen=True, slots=True)
class Setup:
    label: str  # what users call it
    file_suffixes: tuple[str, ...]  # where its code lives
    names: tuple[str, ...]
    advice: str


SETTINGS_ADVICE = (
    "decorate the settings dependency with `@functools.lru_cache` (FastAPI's settings "
    "pattern: `@lru_cache def get_settings() -> Settings: return Settings()`), or build the "
    "settings once at startup, so the environment and the .env file are read and validated "
    "once, not on every request"
)


BUILD_ONCE = (
    "build it once, at module level or in the lifespan, and reuse it: each construction "
    "builds a new validator and serializer"
)


CONFIG_ADVICE = (
    "read and parse the file once at startup (module level, the lifespan, or an "
    "`@lru_cache` loader) and reuse the result; reload it explicitly when it changes"
)


SETUPS = (
    Setup(
        "pydantic-settings BaseSettings()",
        ("/pydantic_settings/main.py",),
        ("__init__",),
        SETTINGS_ADVICE,
    ),
    Setup(
        "python-dotenv (.env file read)",
        ("/dotenv/main.py",),
        ("dotenv_values", "load_dotenv"),
        SETTINGS_ADVICE,
    ),
    Setup("pydantic TypeAdapter()", ("/pydantic/type_adapter.py",), ("__init__",), BUILD_ONCE),
    # A new jinja2 Environment (or Jinja2Templates, or Template(source)) compiles its
    # templates again: the compilation is the cost, and what the profile shows.
    Setup(
        "jinja2 template compilation (a new Environment or Template)",
        ("/jinja2/environment.py",),
        ("compile",),
        "create one `Jinja2Templates(directory=…)` (or `jinja2.Environment`) at module level "
        "and reuse it: its compiled templates are cached with it",
    ),
    # re caches compiled patterns: only a miss reaches the compiler.
    Setup(
        "re.compile (a cache miss: the pattern is compiled again)",
        ("/re/_compiler.py",),
        ("compile",),
        "compile the pattern once at module level (`PATTERN = re.compile(...)`) and use it; "
        "a pattern built per request (an f-string) misses re's cache every time",
    ),
    Setup("json.load (a file parsed)", ("/json/__init__.py",), ("load",), CONFIG_ADVICE),
    Setup("yaml.load / yaml.safe_load", ("/yaml/__init__.py",), ("load",), CONFIG_ADVICE),
    Setup("tomllib.load", ("/tomllib/_parser.py",), ("load",), CONFIG_ADVICE),
    Setup("configparser read", ("/configparser.py",), ("read",), CONFIG_ADVICE),
    Setup("joblib.load (a model loaded)", ("/joblib/numpy_pickle.py",), ("load",), MODEL_ADVICE),
    Setup("torch.load (a model loaded)", ("/torch/serialization.py",), ("load",), MODEL_ADVICE),
    Setup("pickle.load", ("~",), ("<built-in method _pickle.load>",), MODEL_ADVICE),
)


@dataclass(frozen=True, slots=True)
class SetupSite:
    setup: Setup
    constructor: FunctionStats
    caller: FunctionId  # the nearest app function above it


def setup_sites(profile: RouteProfile) -> list[SetupSite]:
    """Constructions made about once per request or more, one per app function (the
    costliest: a BaseSettings reads its .env file through python-dotenv, one finding)."""
    sites: dict[FunctionId, SetupSite] = {}
    if profile.requests == 0:
        return []
    for setup, fn in _constructions(profile):
        if fn.calls / profile.requests < MIN_CALLS_PER_REQUEST:
            continue
        caller = app_caller(profile, fn.function)
        if caller is not None and caller not in sites:
            sites[caller] = SetupSite(setup, fn, caller)
    return list(sites.values())


def _constructions(profile: RouteProfile) -> Iterator[tuple[Setup, FunctionStats]]:
    for fn in sorted(profile.functions, key=lambda f: f.cumulative_s, reverse=True):
        for setup in SETUPS:
            if fn.function.name in setup.names and fn.function.file.endswith(setup.file_suffixes):
                yield setup, fn
