"""The tree of a config file -> a CiConfig, or a UsageError naming file, line and key."""

from __future__ import annotations

import os
from pathlib import Path

from perfaudit.config.budgets import read_budgets, read_ignore
from perfaudit.config.model import (
    AppTarget,
    CiConfig,
    PidTarget,
    Regression,
    RegressionMetric,
    Reports,
    RoutesFrom,
    SpawnTarget,
    TargetConfig,
    UrlTarget,
)
from perfaudit.config.nodes import MapNode, Node, Reader
from perfaudit.config.scenarios import SETTING_KEYS, read_scenarios, read_settings
from perfaudit.errors import UsageError
from perfaudit.load.targets import check_url

TOP_KEYS = (
    "target",
    "defaults",
    "scenarios",
    "budgets",
    "ignore",
    "baseline",
    "regression",
    "reports",
    "verify",
)
TARGET_KEYS = (
    *("app", "factory", "app_dir", "lifespan", "python"),
    *("url", "spawn", "pid", "routes_from"),
)
_APP_ONLY = ("factory", "app_dir", "lifespan", "python")  # all but lifespan: routes_from too
REGRESSION_KEYS = ("min_effect", "confidence", "metric")
REPORT_KEYS = ("json", "markdown", "junit", "html")
METRICS: tuple[RegressionMetric, ...] = ("p50_ms", "p95_ms", "mean_ms")


def build_config(reader: Reader, root: MapNode) -> CiConfig:
    """`root` is the whole file (YAML) or the [tool.perfaudit] table (TOML)."""
    reader.check_keys(root, TOP_KEYS)
    # Relative paths in the file are relative to it, so a run does not depend on the cwd.
    base = reader.source.path.absolute().parent
    target = _target(reader, root, base)
    defaults_node = root.get("defaults")
    defaults = reader.expect_map(defaults_node) if defaults_node is not None else MapNode((), 1, "")
    reader.check_keys(defaults, SETTING_KEYS)
    in_process = isinstance(target, AppTarget)
    budgets_node, verify = root.get("budgets"), root.get("verify")
    return CiConfig(
        path=reader.source.path,
        target=target,
        scenarios=read_scenarios(
            reader, root, read_settings(reader, defaults), in_process=in_process
        ),
        budgets=read_budgets(reader, budgets_node),
        ignore=read_ignore(reader, root.get("ignore")),
        baseline=_path(reader, root.get("baseline"), base),
        regression=_regression(reader, root.get("regression")),
        reports=_reports(reader, root.get("reports"), base),
        verify=reader.boolean(verify) if verify is not None else False,
    )


def _target(reader: Reader, root: MapNode, base: Path) -> TargetConfig:
    node = root.get("target")
    if node is None:
        raise reader.error(
            root,
            "no target: say what to measure.",
            remedy="Add `target: {app: main:app}` (in-process) or `target: {url: http://…}`.",
        )
    mapping = reader.expect_map(node, "a target (a mapping with app, url, pid or spawn)")
    reader.check_keys(mapping, TARGET_KEYS)
    _one_target(reader, mapping)
    if mapping.get("app") is not None:
        routes_from = next((e for e in mapping.entries if e.key == "routes_from"), None)
        if routes_from is not None:
            raise reader.error(
                routes_from,
                "routes_from applies to a server target (url, spawn or pid).",
                remedy="An in-process `app:` target already names its routes by template.",
            )
        return _app_target(reader, mapping, base)
    with_routes_from = mapping.get("routes_from") is not None
    allowed = ("factory", "app_dir", "python") if with_routes_from else ()
    for key in _APP_ONLY:
        entry = next((e for e in mapping.entries if e.key == key), None)
        if entry is not None and key not in allowed:
            beside = "" if key == "lifespan" else " (or beside `routes_from:`)"
            raise reader.error(entry, f"{key} applies only to an in-process `app:` target{beside}.")
    return _server_target(reader, mapping, _routes_from(reader, mapping, base))


def _routes_from(reader: Reader, mapping: MapNode, base: Path) -> RoutesFrom | None:
    node = mapping.get("routes_from")
    if node is None:
        return None
    factory = mapping.get("factory")
    return RoutesFrom(
        app=_app_spec(reader, node),
        factory=reader.boolean(factory) if factory is not None else False,
        app_dir=_path(reader, mapping.get("app_dir"), base) or base.resolve(),
        python=_path(reader, mapping.get("python"), base, resolve=False),
    )


def _app_spec(reader: Reader, node: Node) -> str:
    app = reader.string(node)
    module, _, attr = app.partition(":")
    if not module.strip() or not attr.strip():
        raise reader.error(
            node, f'"{app}" is not an app.', remedy='Write "module:attr", e.g. "main:app".'
        )
    return app


def _one_target(reader: Reader, mapping: MapNode) -> None:
    # `url` names where a spawned or attached server answers, so it pairs with those two.
    kinds = [e for e in mapping.entries if e.key in ("app", "pid", "spawn")]
    url = next((e for e in mapping.entries if e.key == "url"), None)
    if kinds and kinds[0].key == "app" and url is not None:
        kinds.append(url)
    if len(kinds) > 1:
        raise reader.error(
            kinds[1],
            f'two targets ("{kinds[0].key}" and "{kinds[1].key}").',
            remedy="Give exactly one of app, url, pid or spawn (url may go with pid or spawn).",
        )
    if not kinds and url is None:
        raise reader.error(
            mapping,
            "no target: expected one of app, url, pid or spawn.",
            remedy="Add `app: main:app` (in-process) or `url: http://127.0.0.1:8000`.",
        )


def _app_target(reader: Reader, mapping: MapNode, base: Path) -> AppTarget:
    app_node = mapping.get("app")
    assert app_node is not None
    app = _app_spec(reader, app_node)
    factory, lifespan = mapping.get("factory"), mapping.get("lifespan")
    return AppTarget(
        app=app,
        factory=reader.boolean(factory) if factory is not None else False,
        app_dir=_path(reader, mapping.get("app_dir"), base) or base.resolve(),
        lifespan=reader.boolean(lifespan) if lifespan is not None else True,
        python=_path(reader, mapping.get("python"), base, resolve=False),
    )


def _server_target(
    reader: Reader, mapping: MapNode, routes_from: RoutesFrom | None
) -> TargetConfig:
    url_node, spawn, pid = mapping.get("url"), mapping.get("spawn"), mapping.get("pid")
    if url_node is None:
        raise reader.error(
            spawn or pid or mapping,
            "no url: where does the server answer?",
            remedy="Add `url: http://127.0.0.1:8000` beside it.",
        )
    url = _url(reader, url_node)
    if spawn is not None:
        command = reader.string(spawn).strip()
        if not command:
            raise reader.error(
                spawn, "the spawn command is empty.", remedy='E.g. "uvicorn main:app".'
            )
        return SpawnTarget(command=command, url=url, routes_from=routes_from)
    if pid is not None:
        number = reader.integer(pid)
        if number < 1:
            raise reader.error(pid, f"{number} is not a process id.")
        return PidTarget(pid=number, url=url, routes_from=routes_from)
    return UrlTarget(url=url, routes_from=routes_from)


def _url(reader: Reader, node: Node) -> str:
    url = reader.string(node)
    try:
        return check_url(url)
    except UsageError as bad:
        raise reader.error(node, bad.message, remedy=bad.remedy) from None


def _path(reader: Reader, node: Node | None, base: Path, *, resolve: bool = True) -> Path | None:
    """`resolve=False` for an interpreter: a virtualenv's python is a symlink, and the
    interpreter it points to is not the virtualenv."""
    if node is None:
        return None
    text = reader.string(node).strip()
    if not text:
        raise reader.error(node, "the path is empty.")
    path = base.resolve() / Path(text).expanduser()
    return path.resolve() if resolve else Path(os.path.normpath(path))


def _regression(reader: Reader, node: Node | None) -> Regression:
    default = Regression()
    if node is None:
        return default
    mapping = reader.expect_map(node)
    reader.check_keys(mapping, REGRESSION_KEYS)
    effect, confidence, metric = (mapping.get(k) for k in REGRESSION_KEYS)
    return Regression(
        min_effect=_min_effect(reader, effect) if effect is not None else default.min_effect,
        confidence=_confidence(reader, confidence)
        if confidence is not None
        else default.confidence,
        metric=_metric(reader, metric) if metric is not None else default.metric,
    )


def _min_effect(reader: Reader, node: Node) -> float:
    value = reader.number(node)
    if value <= 0:
        raise reader.error(node, f"must be positive, got {value:g}.", remedy="E.g. 0.10 (10%).")
    return value


def _confidence(reader: Reader, node: Node) -> float:
    value = reader.number(node)
    if not 0 < value < 1:
        raise reader.error(node, f"must lie between 0 and 1, got {value:g}.", remedy="E.g. 0.95.")
    return value


def _metric(reader: Reader, node: Node) -> RegressionMetric:
    text = reader.string(node)
    for choice in METRICS:
        if text == choice:
            return choice
    raise reader.error(
        node,
        f'"{text}" is not a regression metric.',
        remedy=f"Use one of {', '.join(METRICS)}.",
    )


def _reports(reader: Reader, node: Node | None, base: Path) -> Reports:
    if node is None:
        return Reports()
    mapping = reader.expect_map(node)
    reader.check_keys(mapping, REPORT_KEYS)
    json_, markdown, junit, html = (_path(reader, mapping.get(k), base) for k in REPORT_KEYS)
    return Reports(json=json_, markdown=markdown, junit=junit, html=html)
