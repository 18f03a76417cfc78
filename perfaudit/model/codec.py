"""Turn the model's frozen dataclasses into JSON-ready data and back, driven by type hints.

One generic codec instead of a to_dict/from_dict pair per class: a field added to the model
is saved and loaded without touching this file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    return value


def from_jsonable(cls: type[T], data: Any) -> T:
    return typing.cast(T, _decode(cls, data))


def _decode(hint: Any, data: Any) -> Any:  # noqa: PLR0911 - one return per kind of type
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint) if f.init}
        kwargs = {name: _decode(hints[name], data[name]) for name in known if name in data}
        return hint(**kwargs)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item) for item in data)
        return tuple(_decode(arg, item) for arg, item in zip(args, data, strict=True))
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        return {_decode(key_type, k): _decode(value_type, v) for k, v in data.items()}
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _decode(options[0], data)
    if origin is typing.Literal:
        return data
    if hint is float:
        return float(data)
    if hint is int:
        return int(data)
    return data
