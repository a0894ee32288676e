"""Reading stack files as Pulumi does, and no more generously.

Pulumi reads stack files with gopkg.in/yaml.v3 (pulumi/pulumi `sdk/go/common/encoding`):
- a mapping key given twice is an error ("mapping key already defined"); PyYAML keeps the
  last one without a word, and a silently dropped `clones:` block is exactly the
  half-edited stack this must catch;
- anchors, aliases and `<<` merge keys work (explicit keys win over merged ones);
- alias expansion is bounded ("document contains excessive aliasing"): a billion-laughs
  file is refused, not expanded into gigabytes.

Here the same, plus bounds yaml.v3 leaves to the machine: the file's size, how deep it
nests, how many values it expands to (each alias counted as often as it is used), how
many bytes of JSON it expands to (yaml.v3 counts aliases, not their size: one big string
used 600 times is a small file and 150 MB of config), and no value that contains itself.
Both expansion bounds are counted by walking the shared values, so a refused file is
never expanded in memory. Dates stay strings: the spec reads them, so an impossible
one (`2027-02-30`) is reported at its key, not as a YAML error.
"""

from __future__ import annotations

from typing import Any

import yaml

from vmimage.config.limits import MAX_CONFIG_BYTES
from vmimage.config.size import where_over

MAX_BYTES = 1024 * 1024  # a stack file of 1 MiB is a mistake, not a pipeline
MAX_DEPTH = 64  # vmimage's config nests fewer than 10 levels
MAX_VALUES = 100_000  # after expanding aliases, as Pulumi and the program will


class StackYamlError(ValueError):
    """The document is refused; the message says why and where (when known)."""


MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue  # merged keys may be given again: the explicit one wins
        key = loader.construct_object(key_node, deep=deep)
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
    return loader.construct_mapping(node, deep=deep)  # merges `<<` keys first


def _keep_timestamp_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _keep_timestamp_text)


def _check_expansion(value: Any) -> None:
    """Walk the document as a consumer will (aliases expanded): bounded values and depth,
    and no value inside itself."""
    budget = MAX_VALUES
    stack: list[tuple[Any, int, tuple[int, ...]]] = [(value, 0, ())]
    while stack:
        node, depth, ancestors = stack.pop()
        budget -= 1
        if budget < 0:
            raise StackYamlError(
                f"expands to more than {MAX_VALUES:,} values once its aliases are followed "
                "(an alias bomb?); Pulumi refuses such files too ('document contains "
                "excessive aliasing')")
        if depth > MAX_DEPTH:
            raise StackYamlError(f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict | list):
            if id(node) in ancestors:
                raise StackYamlError("a value contains itself (a recursive alias)")
            inner = (*ancestors, id(node))
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1, inner) for child in children)


def load_yaml(text: str) -> Any:
    """The document, or StackYamlError / yaml.YAMLError saying why it is refused."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise StackYamlError(f"is {size:,} bytes; stack files are refused above "
                             f"{MAX_BYTES:,} bytes")
    try:
        document = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    except RecursionError:  # the reader recurses once per level: far deeper than allowed
        raise StackYamlError(f"nests deeper than {MAX_DEPTH} levels") from None
    except yaml.constructor.ConstructorError as exc:
        if "recursive" not in (exc.problem or ""):
            raise
        mark = exc.problem_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise StackYamlError(f"{where}a value contains itself (a recursive alias)") from None
    _check_expansion(document)
    at = where_over(document, MAX_CONFIG_BYTES)
    if at is not None:
        raise StackYamlError(
            f"{at}: expands past {MAX_CONFIG_BYTES:,} bytes of JSON here once its aliases "
            "are followed (MAX_CONFIG_BYTES)")
    return document
