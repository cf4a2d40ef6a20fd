"""The build context the rendered Dockerfiles need: present, declared, and let through.

``render`` (and so ``build``) checks, before anything is written:

1. every path the manifest declares under ``image_files:`` exists in the work tree;
2. every COPY/ADD source of every rendered Dockerfile (those without ``--from``) exists, is
   covered by a declared path when the manifest declares any, and reaches the build context:
   a file must not be excluded by ``.dockerignore``, a folder must keep at least one file.

A missing file is found here, in a second, instead of by a build that fails forty minutes in.
Every failure is a ``ConfigError`` (exit 2) naming the path and where it comes from.
``.dockerignore`` is read with the Docker SDK's own matcher, the one ``sync build`` sends the
context with.
"""

from __future__ import annotations

import fnmatch
import io
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser

from sync.docker_engine import context_paths
from sync.errors import ConfigError

DOCKERIGNORE = ".dockerignore"
GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class CopySource:
    """One source of a COPY or ADD instruction that reads the build context."""

    dockerfile: str  # the rendered file, relative to the repository root
    line: int  # 1-based line of the instruction in that file
    path: str  # as written, relative to the context root


def copy_sources(dockerfile: str, text: str) -> list[CopySource]:
    """The build-context sources of ``text``'s COPY and ADD instructions (not ``--from``)."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    sources: list[CopySource] = []
    for item in parser.structure:
        if item["instruction"] not in ("COPY", "ADD"):
            continue
        words = _arguments(item["value"])
        if any(word.startswith("--from=") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")][:-1]
        sources.extend(CopySource(dockerfile, item["startline"] + 1, path) for path in paths)
    return sources


def check_declared(root: Path, declared: Iterable[str], manifest: str) -> None:
    """Every declared path exists (a trailing "/" asks for a folder)."""
    for path in declared:
        target = root / path
        missing = not target.is_dir() if path.endswith("/") else not target.exists()
        if missing:
            raise ConfigError(f"{manifest}: image_files: {path} does not exist",
                              hint="the image needs it: restore the file (git checkout, or "
                                   "pull upstream for bundle/ files), or stop copying it in "
                                   "Dockerfile.j2 and remove it from image_files")


def check_sources(root: Path, sources: Iterable[CopySource], declared: tuple[str, ...],
                  manifest: str) -> None:
    """Each source exists, is declared (when anything is) and reaches the build context."""
    context = _context_files(root)
    for source in sources:
        where = f"{source.dockerfile}:{source.line}: COPY {source.path}"
        path = posixpath.normpath(source.path.lstrip("/")) if source.path not in (".", "./") \
            else "."
        matched = _matching(root, path)
        if not matched:
            raise ConfigError(f"{where}: no such file in the repository",
                              hint="add it, or change Dockerfile.j2, then render again")
        if declared and not any(_covered(path, entry) for entry in declared):
            raise ConfigError(f"{where}: not declared in {manifest} (image_files)",
                              hint=f"add {source.path} to image_files, so that render checks it "
                                   "before every build")
        if not any(_reaches(root, name, context) for name in matched):
            raise ConfigError(f"{where}: kept out of the build context by {DOCKERIGNORE}",
                              hint=f"let it through with a `!{path}` line in {DOCKERIGNORE}")


def context_files(root: Path) -> set[str]:
    """The files (not folders) of ``root`` that reach the build context, as relative paths."""
    return {name for name in _context_files(root) if (root / name).is_file()}


def _context_files(root: Path) -> set[str]:
    patterns: list[str] = []
    ignore = root / DOCKERIGNORE
    if ignore.is_file():
        lines = ignore.read_text(encoding="utf-8").splitlines()
        patterns = [line.strip() for line in lines if line.strip() and
                    not line.strip().startswith("#")]
    return context_paths(root, patterns)


def _matching(root: Path, path: str) -> list[str]:
    if GLOB_CHARACTERS & set(path):
        parent = posixpath.dirname(path)
        directory = root / parent
        names = sorted(entry.name for entry in directory.iterdir()) if directory.is_dir() else []
        return [posixpath.join(parent, name) for name in names
                if fnmatch.fnmatchcase(name, posixpath.basename(path))]
    return [path] if (root / path).exists() else []


def _reaches(root: Path, path: str, context: set[str]) -> bool:
    if (root / path).is_dir():
        prefix = "" if path == "." else path.rstrip("/") + "/"
        return any(name.startswith(prefix) and (root / name).is_file() for name in context)
    return path in context


def _covered(path: str, entry: str) -> bool:
    entry = entry.rstrip("/")
    return path == entry or path.startswith(entry + "/")


def _arguments(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            words = json.loads(value)
        except ValueError:
            words = None
        if isinstance(words, list) and all(isinstance(word, str) for word in words):
            return words
    return value.split()



@dataclass(frozen=True)
class DockerfileSummary:
    """What a rendered Dockerfile makes: its stages and the final image's contract."""

    stages: tuple[tuple[str, str], ...]  # (name, base with the global ARGs resolved)
    workdir: str
    entrypoint: str
    cmd: str
    labels: dict[str, str]


def summarize_dockerfile(text: str) -> DockerfileSummary:
    """The stages, WORKDIR, ENTRYPOINT, CMD and labels of the final stage of ``text``."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    arguments: dict[str, str] = {}
    stages: list[tuple[str, str]] = []
    last: dict[str, str] = {}
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "ARG" and not stages:
            name, _, default = value.partition("=")
            arguments[name.strip()] = default.strip()
        elif instruction == "FROM":
            base, _, name = value.partition(" AS ")
            for key, default in arguments.items():
                base = base.replace(f"${{{key}}}", default)
            stages.append((name.strip() or str(len(stages)), base.strip()))
            last = {}
        elif instruction in ("WORKDIR", "ENTRYPOINT", "CMD"):
            last[instruction] = value
    return DockerfileSummary(tuple(stages), last.get("WORKDIR", "/"),
                             last.get("ENTRYPOINT", "-"), last.get("CMD", "-"),
                             dict(parser.labels))
