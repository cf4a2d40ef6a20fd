"""The ``variants:`` section of upstream-manifest.yaml -> frozen ``Variant`` dataclasses.

Parsed once, as part of the manifest (``sync.config.manifest``). Every value that differs between
the cpu and gpu images is declared there and nowhere else; ``render`` hands one ``Variant`` at a
time to Dockerfile.j2. Values end up inside Dockerfile
instructions and shell commands, so each is checked against a strict pattern here rather than
quoted later: an unknown key, a wrong type or a suspicious value is a ``ConfigError`` naming the
key and its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode

from sync.config.reader import YamlReader

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a file suffix, tag suffix, bake target
IMAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?$")
APT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+~:_-]+)?$")
PIP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?"
                         r"((==|~=|>=|<=|!=|<|>)[A-Za-z0-9.*+!_-]+)?"
                         r"(,(==|~=|>=|<=|!=|<|>)[A-Za-z0-9.*+!_-]+)*$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_VALUE_PATTERN = re.compile(r'^[^"\\$`\n\r]*$')  # written inside ENV NAME="value"

KEYS = {"base", "tensorflow", "packages", "python_packages", "nvidia", "env", "platforms"}
PLATFORM_PATTERN = re.compile(r"^linux/(amd64|arm64)$")
TRUE_WORDS = {"true", "yes", "on"}


@dataclass(frozen=True)
class Variant:
    """One image variant: its base image and the packages that make it differ from the others."""

    name: str
    base: str  # FROM of every stage
    tensorflow: str  # a pip requirement, e.g. "tensorflow-cpu==2.13.1"
    packages: tuple[str, ...] = ()  # extra apt packages
    python_packages: tuple[str, ...] = ()  # extra pip requirements
    nvidia: bool = False  # NVIDIA container runtime environment + GLVND EGL vendor file
    env: tuple[tuple[str, str], ...] = ()  # extra ENV, in declaration order
    platforms: tuple[str, ...] = ()  # e.g. ("linux/amd64", "linux/arm64"); () = the manifest's

    def platforms_or(self, default: str) -> tuple[str, ...]:
        """The platforms this variant is built for (``default``: the manifest's platform)."""
        return self.platforms or (default,)


def parse_variants(reader: YamlReader, node: Node) -> tuple[Variant, ...]:
    """Validate the ``variants:`` section at ``node``, in declaration order."""
    if not isinstance(node, MappingNode) or not node.value:
        raise reader.fail(node, "variants", "must map each variant name to its settings")
    variants: list[Variant] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        name = key_node.value if isinstance(key_node, ScalarNode) else ""
        if not NAME_PATTERN.fullmatch(str(name)):
            raise reader.fail(key_node, f"variants.{name}",
                              "a variant name is lower-case letters, digits, '-' and '_'")
        if name in seen:
            raise reader.fail(key_node, f"variants.{name}", "duplicate variant")
        seen.add(name)
        variants.append(_variant(reader, name, value_node))
    return tuple(variants)


def _variant(reader: YamlReader, name: str, node: Node) -> Variant:
    prefix = f"variants.{name}"
    fields = reader.mapping(node, prefix, KEYS)
    for required in ("base", "tensorflow"):
        if required not in fields:
            raise reader.fail(node, f"{prefix}.{required}", "required key is missing")

    def checked(key: str, value_node: Node, pattern: re.Pattern[str], what: str) -> str:
        value = reader.string(value_node, key)
        if not pattern.fullmatch(value):
            raise reader.fail(value_node, key, f"{value!r} is not {what}")
        return value

    def checked_list(key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        if key not in fields:
            return ()
        values = reader.string_list(fields[key][1], f"{prefix}.{key}")
        items = fields[key][1].value
        for index, (value, item) in enumerate(zip(values, items, strict=True)):
            if not pattern.fullmatch(value):
                raise reader.fail(item, f"{prefix}.{key}[{index}]", f"{value!r} is not {what}")
        return values

    base = checked(f"{prefix}.base", fields["base"][1], IMAGE_PATTERN, "an image reference")
    tensorflow = checked(f"{prefix}.tensorflow", fields["tensorflow"][1], PIP_PATTERN,
                         "a pip requirement such as tensorflow==2.13.1")
    return Variant(
        name=name,
        base=base,
        tensorflow=tensorflow,
        packages=checked_list("packages", APT_PATTERN, "an apt package (name or name=version)"),
        python_packages=checked_list("python_packages", PIP_PATTERN, "a pip requirement"),
        nvidia=_boolean(reader, fields["nvidia"][1], f"{prefix}.nvidia") if "nvidia" in fields
        else False,
        env=_env(reader, fields["env"][1], f"{prefix}.env") if "env" in fields else (),
        platforms=tuple(dict.fromkeys(checked_list(
            "platforms", PLATFORM_PATTERN, "a platform (linux/amd64 or linux/arm64)"))),
    )


def _boolean(reader: YamlReader, node: Node, key: str) -> bool:
    if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
        raise reader.fail(node, key, "must be true or false")
    return str(node.value).lower() in TRUE_WORDS


def _env(reader: YamlReader, node: Node, key: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(node, MappingNode):
        raise reader.fail(node, key, "must map variable names to string values")
    pairs: list[tuple[str, str]] = []
    for name_node, value_node in node.value:
        name = name_node.value if isinstance(name_node, ScalarNode) else ""
        if not ENV_NAME_PATTERN.fullmatch(str(name)):
            raise reader.fail(name_node, f"{key}.{name}", "is not a valid variable name")
        if any(existing == name for existing, _ in pairs):
            raise reader.fail(name_node, f"{key}.{name}", "duplicate key")
        value = reader.string(value_node, f"{key}.{name}")
        if not ENV_VALUE_PATTERN.fullmatch(value):
            raise reader.fail(value_node, f"{key}.{name}",
                              "must not contain quotes, backslashes, '$', '`' or newlines")
        pairs.append((name, value))
    return tuple(pairs)
