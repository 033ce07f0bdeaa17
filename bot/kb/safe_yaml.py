"""YAML parsing for the knowledge loader (bot/kb/load.py): yaml's safe loader, bounded.

Kept apart from the loader so that importing yaml (~9 ms) is paid only when a file is parsed:
a cached `platbot ask` parses none.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml import YAMLError

from bot.kb.load import MAX_YAML_NODES

__all__ = ["BoundedLoader", "TooManyNodes", "YAMLError", "index_lines", "parse"]


def parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The composed document (kept for line numbers) and its data; YAMLError when it is not
    valid YAML or too large once aliases are expanded (TooManyNodes)."""
    loader = BoundedLoader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


class TooManyNodes(yaml.MarkedYAMLError):
    """The document, every alias expanded, has more than MAX_YAML_NODES nodes (or is endless)."""


class BoundedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """yaml's SafeLoader (libyaml's when the wheel has it: parsing is most of the start-up cost
    of `platbot ask`) that refuses a "billion laughs" before constructing it.

    Composing keeps an alias as a second reference to its anchor's node, so the composed
    document is as small as the file. Before anything walks it as a tree (constructing merge
    keys, finding a line number, dumping JSON), its expanded size is counted on that graph,
    each node once.
    """

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None and (culprit := _first_over_budget(node, MAX_YAML_NODES)) is not None:
            raise TooManyNodes(
                problem=f"more than {MAX_YAML_NODES:,} YAML nodes once aliases are expanded",
                problem_mark=culprit.start_mark,
            )
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _first_over_budget(document: yaml.Node, budget: int) -> yaml.Node | None:
    """The first node (innermost first) that, every alias expanded, holds more than `budget`
    nodes, or that an alias inside it points back to (it would never end); None if none does."""
    sizes: dict[int, int] = {}  # id(collection node) -> its expanded size; a scalar's is 1
    open_nodes: set[int] = set()  # collections whose children are still being counted
    stack: list[tuple[yaml.Node, bool]] = [(document, False)]
    while stack:
        node, children_counted = stack.pop()
        key = id(node)
        if children_counted:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
            if sizes[key] > budget:
                return node
        elif key in open_nodes:
            return node  # reached again from inside itself: a recursive alias
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack += ((child, False) for child in _children(node) if not isinstance(child, yaml.ScalarNode))
    return None


def index_lines(document: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """The line of each path in the document. Each node is visited once, at the first path
    that reaches it: an alias is never expanded, and a path through one reports the alias's
    own line (its parent's)."""
    lines: dict[tuple[Any, ...], int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(document, ())] if document is not None else []
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        lines.setdefault(path, node.start_mark.line + 1)
        children: list[tuple[yaml.Node, tuple[Any, ...]]] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    child = (*path, key.value)
                    lines[child] = key.start_mark.line + 1  # a field's line is its key's, not its value's
                    children.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, i)) for i, item in enumerate(node.value)]
        stack += reversed(children)  # document order: an anchor is indexed where it is written
    return lines
