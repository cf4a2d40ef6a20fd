"""A YAML node walker whose every error is a ``ConfigError`` naming file, key and line."""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sync.errors import ConfigError


def compose(text: str, filename: str) -> Node | None:
    """The node graph of ``text`` (None when empty); invalid YAML names its line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{filename}{where}: invalid YAML: {problem}") from None


class YamlReader:
    """Walks the YAML node graph so every error can name its key and line."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, node: Node, key: str, message: str) -> ConfigError:
        """The error for ``key`` at ``node``'s line (returned, for the caller to raise)."""
        line = node.start_mark.line + 1
        return ConfigError(f"{self.filename}:{line}: {key}: {message}")

    def mapping(self, node: Node, key: str, allowed: set[str]) -> dict[str, tuple[Node, Node]]:
        """The entries of mapping ``node``; an unknown or repeated key is an error."""
        if not isinstance(node, MappingNode):
            raise self.fail(node, key, "must be a mapping")
        found: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else None
            full = f"{key}.{name}" if key else str(name)
            if name not in allowed:
                expected = ", ".join(sorted(allowed))
                raise self.fail(key_node, full, f"unknown key (expected one of: {expected})")
            if name in found:
                raise self.fail(key_node, full, "duplicate key")
            found[name] = (key_node, value_node)
        return found

    def string(self, node: Node, key: str) -> str:
        """A non-empty string scalar (not a number, boolean or null that YAML would convert)."""
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.fail(node, key, "must be a string")
        if not node.value.strip():
            raise self.fail(node, key, "must not be empty")
        return str(node.value)

    def string_list(self, node: Node, key: str) -> tuple[str, ...]:
        """A list of strings."""
        if not isinstance(node, SequenceNode):
            raise self.fail(node, key, "must be a list of strings")
        return tuple(self.string(item, f"{key}[{i}]") for i, item in enumerate(node.value))

    def sequence(self, node: Node, key: str) -> list[Node]:
        """The items of list ``node``."""
        if not isinstance(node, SequenceNode):
            raise self.fail(node, key, "must be a list")
        return list(node.value)
