"""The parameters of the app's own functions, read from their source: advice must know
what a function takes (a DB session, a request, a client: per-request state, never a cache
key). cProfile gives each function's file, line and name; the source gives the rest."""

from __future__ import annotations

import ast
from functools import lru_cache

# (line, name): the `def` line, and for a decorated function also its first decorator's.
FunctionKey = tuple[int, str]


def parameters(file: str, line: int, name: str) -> tuple[str, ...]:
    """ "name: Annotation" (or "name") of each parameter of the function at `file:line`;
    () when the file cannot be read or holds no such function."""
    return _functions(file).get((line, name), ())


@lru_cache(maxsize=256)
def _functions(file: str) -> dict[FunctionKey, tuple[str, ...]]:
    try:
        with open(file, encoding="utf-8") as source:
            tree = ast.parse(source.read(), filename=file)
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[FunctionKey, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = tuple(_describe(arg) for arg in _arguments(node.args))
            found[(node.lineno, node.name)] = params
            for decorator in node.decorator_list[:1]:  # code.co_firstlineno on 3.10
                found[(decorator.lineno, node.name)] = params
    return found


def _arguments(args: ast.arguments) -> list[ast.arg]:
    return [*args.posonlyargs, *args.args, *args.kwonlyargs]


def _describe(arg: ast.arg) -> str:
    if arg.annotation is None:
        return arg.arg
    return f"{arg.arg}: {ast.unparse(arg.annotation)}"
