"""What a rendered Dockerfile makes, resolved statically with dockerfile-parse.

``final_image(text, root)`` follows the final stage's instructions: its environment and
labels (ARGs and ENVs substituted), WORKDIR, ENTRYPOINT, CMD, EXPOSE, USER, and every file the
COPY instructions put into the image (a repository file with its git mode, or a path taken
from another stage), plus the symbolic links the stage's ``ln -s`` loop makes. ``stages``
gives each stage with its resolved base and instructions. The contract tests assert the facts
tables against these; the reduced build (test_reduced_build.py) checks the same with the engine.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser


@dataclass
class Stage:
    name: str
    base: str  # global ARGs resolved
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]

    def runs(self) -> list[str]:
        return self.values("RUN")


@dataclass(frozen=True)
class RepoFile:
    """A file of the repository copied into the image."""

    path: str
    mode: int  # 0o755 or 0o644, as git records it


@dataclass(frozen=True)
class StagePath:
    """A path taken from another stage (``COPY --from``)."""

    stage: str
    path: str


@dataclass
class FinalImage:
    base: str
    env: dict[str, str]
    labels: dict[str, str]
    workdir: str
    entrypoint: list[str] | None
    cmd: list[str] | None
    expose: list[str]
    user: str | None
    files: dict[str, RepoFile | StagePath]
    links: dict[str, str]  # link path -> target

    def resolve(self, path: str) -> RepoFile | StagePath | None:
        """What ``path`` is in the image, following links and copied stage trees."""
        path = self.links.get(path, path)
        if path in self.files:
            return self.files[path]
        for destination, source in self.files.items():
            if isinstance(source, StagePath) and destination.endswith("/") \
                    and path.startswith(destination):
                return StagePath(source.stage, source.path + path[len(destination):])
        return None

    def directories(self) -> set[str]:
        found = set()
        for path in [*self.files, *self.links]:
            parts = path.rstrip("/").split("/")
            found.update("/".join(parts[:index]) for index in range(2, len(parts)))
        return found


def parse(text: str) -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))


def global_args(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in parse(text).structure:
        if item["instruction"] == "FROM":
            break
        if item["instruction"] == "ARG":
            name, _, default = item["value"].partition("=")
            found[name.strip()] = default.strip()
    return found


def stages(text: str) -> list[Stage]:
    arguments = global_args(text)
    found: list[Stage] = []
    for item in parse(text).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            base, _, name = value.partition(" AS ")
            for key, default in arguments.items():
                base = base.replace(f"${{{key}}}", default)
            found.append(Stage(name.strip(), base.strip()))
        elif found and instruction != "COMMENT":
            found[-1].instructions.append((instruction, value))
    return found


def words(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        return list(json.loads(value))
    return value.split()


def final_image(text: str, root: Path) -> FinalImage:
    """The final stage of ``text``, its COPY sources read from the repository at ``root``."""
    final = stages(text)[-1]
    arguments: dict[str, str] = {}
    env: dict[str, str] = {}
    labels: dict[str, str] = {}
    image = FinalImage(final.base, env, labels, "/", None, None, [], None, {}, {})

    def substitute(value: str) -> str:
        known = {**arguments, **env}
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: known.get(m[1], ""), value)

    for instruction, value in final.instructions:
        if instruction == "ARG":
            name, _, default = value.partition("=")
            arguments[name.strip()] = default.strip()
        elif instruction in ("ENV", "LABEL"):
            target = env if instruction == "ENV" else labels
            for pair in shlex.split(substitute(value)):
                name, _, assigned = pair.partition("=")
                target[name] = assigned
        elif instruction == "WORKDIR":
            image.workdir = posixpath.join(image.workdir, substitute(value))
        elif instruction == "ENTRYPOINT":
            image.entrypoint = words(value)
        elif instruction == "CMD":
            image.cmd = words(value)
        elif instruction == "EXPOSE":
            image.expose.extend(value.split())
        elif instruction == "USER":
            image.user = value
        elif instruction == "COPY":
            _copy(image, words(value), root)
        elif instruction == "RUN":
            _links(image, value)
    return image


def _copy(image: FinalImage, items: list[str], root: Path) -> None:
    flags = [item for item in items if item.startswith("--")]
    paths = [item for item in items if not item.startswith("--")]
    *sources, destination = paths
    destination = posixpath.join(image.workdir, destination)
    into = destination.endswith("/") or len(sources) > 1
    stage = next((flag.split("=", 1)[1] for flag in flags if flag.startswith("--from=")), None)
    for source in sources:
        if stage is not None:
            image.files[destination] = StagePath(stage, source)
            continue
        path = root / source
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = file.relative_to(path).as_posix()
                image.files[posixpath.join(destination, relative)] = _repo_file(root, file)
        else:
            target = posixpath.join(destination, posixpath.basename(source)) if into \
                else destination
            image.files[target] = _repo_file(root, path)


def _repo_file(root: Path, path: Path) -> RepoFile:
    mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
    return RepoFile(path.relative_to(root).as_posix(), mode)


def _links(image: FinalImage, command: str) -> None:
    """The links of a ``for name in A B; do ln -sfn "DIR/${name}" "LINKS/${name}"; done``."""
    loop = re.search(r"for name in (.+?); do\s+ln -sfn \"([^\"]+)/\$\{name\}\" \"([^\"]+)/"
                     r"\$\{name\}\"", command)
    if loop:
        for name in loop[1].split():
            image.links[f"{loop[3]}/{name}"] = f"{loop[2]}/{name}"


def apt_packages(command: str) -> list[list[str]]:
    """The package lists of each ``apt-get install`` in a RUN command."""
    found = []
    for part in re.split(r"&&|;", command):
        tokens = part.split()
        if tokens[:2] == ["apt-get", "install"]:
            found.append([token for token in tokens[2:] if not token.startswith("-")
                          and token != "\\"])
    return found
