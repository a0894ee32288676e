"""Reading stack files as Pulumi does: YAML where a key given twice is an error.

PyYAML keeps the last of two equal keys without a word; Pulumi's Go YAML reader refuses
the file ("mapping key already defined"). A silently dropped `clones:` block is exactly
the half-edited stack this must catch, so offline reads refuse it too.
"""

from __future__ import annotations

from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: let PyYAML report it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"key {key!r} is given twice (first on line {first.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, but a mapping key given twice raises a YAMLError at its line."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
