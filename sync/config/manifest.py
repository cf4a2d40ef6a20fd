"""upstream-manifest.yaml -> one frozen, hashable ``Manifest``, validated once when loaded.

The key names are a contract. Unknown keys, wrong types and inconsistent values, in every
section including ``variants:``, are a ``ConfigError`` naming the file, the key and its line;
nothing is guessed, and nothing downstream reads the file again.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from sync.config import MANIFEST_NAME
from sync.config.reader import YamlReader, compose
from sync.config.variants import Variant, parse_variants
from sync.errors import ConfigError
from sync.untrusted import control_character, is_git_special

DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
PLATFORM_PATTERN = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


@dataclass(frozen=True)
class PathMapping:
    """Keep the image subtree ``source`` (absolute) as ``target`` (repo-relative), minus excludes.

    ``exclude`` holds gitignore-style patterns relative to ``source``; a leading "/" anchors a
    pattern at ``source`` itself.
    """

    source: str
    target: str
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """The whole upstream-manifest.yaml."""

    image: str
    tag: str | None
    digest: str | None
    platform: str
    branch: str
    paths: tuple[PathMapping, ...]
    variants: tuple[Variant, ...] = ()  # in declaration order; () when the section is absent
    path: Path | None = None  # where it was read from, for messages
    # repository paths the images COPY (a trailing "/" for a folder); render checks them
    image_files: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """The image reference to pull: a pinned digest wins over the tag."""
        if self.digest:
            return f"{self.image}@{self.digest}"
        return f"{self.image}:{self.tag or 'latest'}"

    @property
    def targets(self) -> tuple[str, ...]:
        """The repository folders the mapped image paths land in."""
        return tuple(mapping.target for mapping in self.paths)

    @property
    def declared_variants(self) -> tuple[Variant, ...]:
        """The variants, for the commands that need some (render, build): none is an error."""
        if not self.variants:
            raise ConfigError(f"{self.path or MANIFEST_NAME}: variants: no variants declared",
                              hint="add a variants: section (see the repository's manifest)")
        return self.variants

    def select_variants(self, names: Iterable[str] | None) -> tuple[Variant, ...]:
        """The variants called ``names`` (all when None or empty), in declaration order."""
        declared = self.declared_variants
        wanted = list(dict.fromkeys(names or ()))
        if not wanted:
            return declared
        known = {variant.name for variant in declared}
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise ConfigError(f"unknown variant {', '.join(map(repr, unknown))}",
                              hint=f"declared in {MANIFEST_NAME}: {', '.join(sorted(known))}")
        return tuple(variant for variant in declared if variant.name in wanted)


def load_manifest(path: Path) -> Manifest:
    """Read and validate the manifest at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found", hint=f"run from the repository root or create {MANIFEST_NAME}"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    return parse_manifest(text, str(path), path)


def parse_manifest(text: str, filename: str, path: Path | None = None) -> Manifest:
    """Validate manifest ``text``; ``filename`` is used in messages."""
    root = compose(text, filename)
    reader = YamlReader(filename)
    if root is None:
        raise ConfigError(f"{filename}: empty manifest")
    keys = reader.mapping(root, "", {"image", "tag", "digest", "platform", "branch", "paths",
                                      "variants", "image_files"})
    for required in ("image", "paths"):
        if required not in keys:
            raise reader.fail(root, required, "required key is missing")

    def optional(name: str, default: str | None, check: Callable[[str], bool] | None = None,
                 rule: str = "") -> str | None:
        if name not in keys:
            return default
        value = reader.string(keys[name][1], name)
        if check is not None and not check(value):
            raise reader.fail(keys[name][1], name, f"{value!r} {rule}")
        return value

    image = reader.string(keys["image"][1], "image")
    # a colon after the last slash is a tag ("host:port/repo" is fine)
    if any(char.isspace() for char in image) or "@" in image or ":" in image.rsplit("/", 1)[-1]:
        raise reader.fail(keys["image"][1], "image",
                          "must be a repository name without tag or digest (use tag:/digest:)")
    tag = optional("tag", None, lambda v: re.fullmatch(r"[\w][\w.-]{0,127}", v) is not None,
                   "is not a valid tag")
    digest = optional("digest", None, lambda v: DIGEST_PATTERN.match(v) is not None,
                      "must look like sha256:<64 hex digits>")
    platform = optional("platform", "linux/amd64", lambda v: PLATFORM_PATTERN.match(v) is not None,
                        "must look like os/arch or os/arch/variant")
    branch = optional("branch", "upstream", _valid_branch_name, "is not a valid branch name")
    paths = _read_paths(reader, keys["paths"][1])
    variants = parse_variants(reader, keys["variants"][1]) if "variants" in keys else ()
    image_files = _read_image_files(reader, keys["image_files"][1]) if "image_files" in keys \
        else ()
    assert platform is not None and branch is not None
    return Manifest(image=image, tag=tag, digest=digest, platform=platform, branch=branch,
                    paths=paths, variants=variants, path=path, image_files=image_files)


def _read_image_files(reader: YamlReader, node: Node) -> tuple[str, ...]:
    values = reader.string_list(node, "image_files")
    for index, (value, item) in enumerate(zip(values, node.value, strict=True)):
        parts = value.rstrip("/").split("/")
        if value.startswith("/") or "\\" in value or any(part in ("", ".", "..") for part in parts):
            raise reader.fail(item, f"image_files[{index}]",
                              f"{value!r} must be a plain path relative to the repository root")
    return values


def _read_paths(reader: YamlReader, node: Node) -> tuple[PathMapping, ...]:
    items = reader.sequence(node, "paths")
    if not items:
        raise reader.fail(node, "paths", "must list at least one source/target mapping")
    mappings: list[tuple[PathMapping, Node]] = []
    for index, item in enumerate(items):
        key = f"paths[{index}]"
        fields = reader.mapping(item, key, {"source", "target", "exclude"})
        for required in ("source", "target"):
            if required not in fields:
                raise reader.fail(item, f"{key}.{required}", "required key is missing")
        source_node, target_node = fields["source"][1], fields["target"][1]
        source = reader.string(source_node, f"{key}.source")
        if control_character(source) is not None:
            raise reader.fail(source_node, f"{key}.source",
                              f"{source!r} contains a control character")
        if not source.startswith("/"):
            raise reader.fail(source_node, f"{key}.source",
                              f"{source!r} must be an absolute path in the image")
        if "\\" in source or ".." in source.split("/"):
            raise reader.fail(source_node, f"{key}.source", f"{source!r} must not contain '..'")
        target = reader.string(target_node, f"{key}.target")
        target_problem = _target_problem(target)
        if target_problem:
            raise reader.fail(target_node, f"{key}.target", f"{target!r} {target_problem}")
        exclude: tuple[str, ...] = ()
        if "exclude" in fields:
            exclude = reader.string_list(fields["exclude"][1], f"{key}.exclude")
            for position, pattern in enumerate(exclude):
                if control_character(pattern) is not None:
                    raise reader.fail(fields["exclude"][1].value[position],
                                      f"{key}.exclude[{position}]",
                                      f"{pattern!r} contains a control character")
        normalized_source = posixpath.normpath(source)
        if normalized_source == "//":
            normalized_source = "/"
        mapping = PathMapping(normalized_source, posixpath.normpath(target), exclude)
        for other, _ in mappings:
            if _overlaps(other.target, mapping.target):
                raise reader.fail(target_node, f"{key}.target",
                                  f"{mapping.target!r} overlaps the target {other.target!r}")
        mappings.append((mapping, item))
    return tuple(mapping for mapping, _ in mappings)


def _target_problem(target: str) -> str | None:
    if control_character(target) is not None:
        return "contains a control character"
    if len(target.encode("utf-8", "surrogatepass")) > 4096 or any(
            len(part.encode("utf-8", "surrogatepass")) > 255 for part in target.split("/")):
        return "is too long (a name is at most 255 bytes, a path at most 4096)"
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        return "must be a path relative to the repository root"
    if "\\" in target:
        return "must use '/' separators"
    parts = [part for part in target.split("/") if part not in ("", ".")]
    if not parts:
        return "must name a folder below the repository root"
    if ".." in parts:
        return "must not contain '..'"
    if any(is_git_special(part) for part in parts):
        return ("must not be inside .git (git takes case, 'git~1', trailing dots and spaces "
                "and zero-width characters to mean .git)")
    if parts[0] == "patches":
        return "must not be the patches/ folder"
    return None


def _overlaps(first: str, second: str) -> bool:
    return first == second or first.startswith(second + "/") or second.startswith(first + "/")


def _valid_branch_name(name: str) -> bool:
    """What ``git check-ref-format --branch`` accepts, narrowed to ASCII names."""
    if name.startswith(("-", "/")) or name.endswith(("/", ".", ".lock")):
        return False
    if ".." in name or "//" in name or "@{" in name or name == "@" or len(name) > 200:
        return False
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return False
    return re.fullmatch(r"[A-Za-z0-9._/-]+", name) is not None
