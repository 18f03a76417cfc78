"""Read a YAML config into the line-keeping tree.

`yaml.load` would hand back plain dicts and lose every line, so the document is *composed*
(nodes keep their marks) and only scalars are constructed, by the same SafeLoader, so
`8`, `8.5`, `true`, `null` and quoted strings get YAML's usual types.
"""

from __future__ import annotations

import yaml

from perfaudit.config.nodes import Entry, ListNode, MapNode, Node, ScalarNode, Source, child_path
from perfaudit.errors import UsageError

_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_yaml(text: str, source: Source) -> MapNode:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise source.error(1, "", "the file is empty.", remedy=_EXAMPLE)
        tree = _Converter(loader, source).node(root, "")
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, source) from None
    except yaml.YAMLError as exc:  # e.g. a control character: the reader gives no mark
        raise source.error(1, "", f"not valid YAML: {exc}.") from None
    finally:
        loader.dispose()
    if not isinstance(tree, MapNode):
        raise source.error(tree.line, "", "expected a mapping of keys at the top.", _EXAMPLE)
    return tree


_EXAMPLE = "Start from an example in configs/, e.g. configs/pricing.yaml."


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, source: Source) -> None:
        self.loader = loader
        self.source = source

    def node(self, node: yaml.Node, path: str) -> Node:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return MapNode(self._entries(node, path), line, path)
        if isinstance(node, yaml.SequenceNode):
            items = tuple(self.node(item, child_path(path, i)) for i, item in enumerate(node.value))
            return ListNode(items, line, path)
        value = self.loader.construct_object(node)
        if value is not None and not isinstance(value, str | int | float | bool):
            # Dates, binary: no config key takes one, and quoting makes it a string.
            raise self.source.error(
                line, path, f"unsupported value {node.value!r}.", remedy="Quote it as a string."
            )
        return ScalarNode(value, line, path)

    def _entries(self, node: yaml.MappingNode, path: str) -> tuple[Entry, ...]:
        self._check_unique(self._own_keys(node), path)
        if len(node.value) != len(self._own_keys(node)):
            # `<<: *defaults`: merged keys come first and the mapping's own keys override
            # them, as yaml.safe_load would do.
            self.loader.flatten_mapping(node)
        entries: dict[str, Entry] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            child = self.node(value_node, child_path(path, key))
            entries[key] = Entry(key, child, key_node.start_mark.line + 1)
        return tuple(entries.values())

    @staticmethod
    def _own_keys(node: yaml.MappingNode) -> list[yaml.Node]:
        return [key for key, _ in node.value if key.tag != _MERGE_TAG]

    def _check_unique(self, keys: list[yaml.Node], path: str) -> None:
        # yaml.safe_load silently keeps the last of two equal keys; a config must not.
        seen: set[str] = set()
        for key_node in keys:
            key = self._key(key_node)
            if key in seen:
                raise self.source.error(
                    key_node.start_mark.line + 1,
                    child_path(path, key),
                    f'"{key}" is set twice in this mapping.',
                    remedy="Keep one of them.",
                )
            seen.add(key)

    def _key(self, node: yaml.Node) -> str:
        key = self.loader.construct_object(node)
        if isinstance(key, bool):
            return str(key).lower()
        return key if isinstance(key, str) else str(key)


def _syntax_error(exc: yaml.MarkedYAMLError, source: Source) -> UsageError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    problem = exc.problem or exc.context or "malformed YAML"
    return source.error(
        line,
        "",
        f"not valid YAML: {problem}.",
        remedy="Check the indentation and quoting on this line and the one before it.",
    )
