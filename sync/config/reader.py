"""A YAML node walker whose every error is a ``ConfigError`` naming file, key and line."""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sync.errors import ConfigError

# Caps on a config file: far above any real manifest, far below what could exhaust memory or
# Python's recursion limit.
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64


def compose(text: str, filename: str) -> Node | None:
    """The node graph of ``text`` (None when empty); invalid YAML names its line.

    Tags are never constructed (``!!python/object`` is just a node a reader refuses as "must be
    a string"), aliases are never expanded, and a file over ``MAX_YAML_BYTES`` or nested deeper
    than ``MAX_YAML_DEPTH`` is refused before it is composed.
    """
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{filename}: larger than {MAX_YAML_BYTES} bytes, refusing to read it")
    try:
        _check_depth(text, filename)
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(f"{filename}: nested too deeply") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{filename}{where}: invalid YAML: {problem}") from None


def _check_depth(text: str, filename: str) -> None:
    """Refuse collections nested deeper than ``MAX_YAML_DEPTH`` (the parser is iterative)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise ConfigError(f"{filename}:{line}: nested more than {MAX_YAML_DEPTH} "
                                  "levels deep, refusing to read it")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


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
