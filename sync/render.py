"""Dockerfile.j2 -> one Dockerfile per variant, plus a docker-bake.json that builds them all.

Rendering is a pure function of the template text, ``VERSION``, the variants and what the
upstream branch records: the same inputs give the same bytes, so ``render --check`` can compare
with the files on disk. The build-time revision is deliberately not an input (it is a build
argument): a rendered file that named the commit containing it could never be up to date.

Where the output goes (documented in the README):
  docker/Dockerfile.<variant>   one per variant, build context = the repository root
  docker-bake.json              at the root, so that a plain `docker buildx bake` finds it
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import stat
import tempfile
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from sync.config.variants import Variant
from sync.errors import RETRY, DiskFault, RenderError, SyncError, disk_faults
from sync.untrusted import control_character, symlinked_folder
from sync.upstream import Upstream

TEMPLATE_NAME = "Dockerfile.j2"
OUTPUT_DIR = "docker"
BAKE_NAME = "docker-bake.json"
IMAGE_NAME = "deepracer-simapp"
DEFAULT_PREFIX = "awsdeepracercommunity"
# the line every rendered Dockerfile carries: `render` owns those files and no others
RENDERED_MARK = "# Rendered by simapp-sync from Dockerfile.j2; do not edit: change the template."
_DIRECTIVE = re.compile(r"^#\s*[A-Za-z]+\s*=\S*\s*$")
_MARK_WITHIN = 8  # lines from the top


@dataclass(frozen=True)
class RenderedFile:
    """One output: its path relative to the repository root and its full text."""

    path: str
    text: str


@dataclass(frozen=True)
class StaleFile:
    """An output whose file on disk differs from what rendering gives now."""

    path: str
    reason: str  # "missing", "differs" or "not declared"
    diff: str  # unified diff from the file on disk to the fresh rendering


def dockerfile_path(variant: str) -> str:
    """Where the Dockerfile of ``variant`` is written, relative to the repository root."""
    return f"{OUTPUT_DIR}/Dockerfile.{variant}"


def image_tag(prefix: str, version: str, variant: str) -> str:
    """``<prefix>/deepracer-simapp:<version>-<variant>``."""
    return f"{prefix.rstrip('/')}/{IMAGE_NAME}:{version}-{variant}"


def render_variant(template: Path, variant: Variant, version: str, upstream: Upstream,
                   name: str | None = None,
                   version_info: Mapping[str, Any] | None = None) -> str:
    """The Dockerfile text of one variant (a ``RenderError`` naming file and line otherwise).

    ``version`` is the version tags use (VERSION's ``simapp``); ``version_info`` the whole
    VERSION mapping (default ``{"simapp": version}``).
    """
    _check_recorded(upstream)
    context = {"variant": variant, "version": version, "upstream": upstream,
               "version_info": dict(version_info or {"simapp": version})}
    return render_template(template, context, name)


def _check_recorded(upstream: Upstream) -> None:
    """Refuse upstream values that could break out of the quoted string they are rendered in.

    They come from commit trailers (ultimately from an image config or a registry): a newline
    could add a Dockerfile instruction, a quote or backslash could add a LABEL.
    """
    for key in ("commit", "image", "digest", "image_id", "created", "mapping", "tree"):
        value = getattr(upstream, key)
        if isinstance(value, str) and (control_character(value) is not None
                                       or any(char in value for char in '"\\`$')):
            raise RenderError(f"upstream commit {upstream.commit[:12]}: {key} {value!r:.200} "
                              "contains a control character, quote, backslash or '$', "
                              "refusing to render it",
                              hint="pull again to record the upstream image afresh")


def render_all(template: Path, variants: Iterable[Variant], all_variants: Iterable[Variant],
               version: str, upstream: Upstream, platform: str,
               name: str | None = None,
               version_info: Mapping[str, Any] | None = None) -> tuple[RenderedFile, ...]:
    """The Dockerfiles of ``variants`` and the bake file, which always covers ``all_variants``.

    ``name`` is how messages call the template (default: its path from the current directory).
    """
    files = [RenderedFile(dockerfile_path(variant.name),
                          owned(render_variant(template, variant, version, upstream, name,
                                               version_info)))
             for variant in variants]
    files.append(RenderedFile(BAKE_NAME, bake_file(tuple(all_variants), version, platform)))
    return tuple(files)


def render_template(template: Path, context: Mapping[str, Any], name: str | None = None) -> str:
    """Render ``template`` under StrictUndefined; errors become ``RenderError`` with the line.

    ``name`` is how messages call the template (default: its path from the current directory).
    """
    shown = name or _shown(template)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent.resolve())),
        undefined=_NamedUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
    )
    try:
        compiled = environment.get_template(template.name)
    except jinja2.TemplateNotFound:
        raise RenderError(f"{shown}: template not found") from None
    except jinja2.TemplateSyntaxError as error:
        where = _included(error.filename, template, shown)
        raise RenderError(f"{where}:{error.lineno}: template syntax error: {error.message}",
                          hint="fix the template, then render again") from None
    except UnicodeDecodeError as error:
        raise RenderError(f"{shown}: not UTF-8 text: {error}") from None
    try:
        text = compiled.render(**context)
    except UndefinedName as error:
        line = _template_line(error.__traceback__, template)
        name = error.describe(context)
        raise RenderError(f"{shown}:{line}: undefined variable {name!r}",
                          hint=f"defined: {', '.join(sorted(context))}") from None
    except jinja2.TemplateSyntaxError as error:  # in an included or imported template
        where = _included(error.filename, template, shown)
        raise RenderError(f"{where}:{error.lineno}: template syntax error: {error.message}"
                          ) from None
    except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError,
            ArithmeticError) as error:
        line = _template_line(error.__traceback__, template)
        raise RenderError(f"{shown}:{line}: {type(error).__name__}: {error}") from None
    return text if text.endswith("\n") else text + "\n"


def bake_file(variants: tuple[Variant, ...], version: str, platform: str) -> str:
    """docker-bake.json: one target per variant, all in the default group.

    JSON rather than HCL so that it is checked with nothing but the standard library; bake reads
    both. PREFIX and REVISION are bake variables (overridable from the environment:
    ``PREFIX=registry.example/org REVISION=$(git rev-parse HEAD) docker buildx bake --push``)
    rather than rendered values, for the same reason REVISION is a build argument.
    """
    document = {
        "variable": {"PREFIX": {"default": DEFAULT_PREFIX}, "REVISION": {"default": ""}},
        "group": {"default": {"targets": [variant.name for variant in variants]}},
        "target": {
            variant.name: {
                "context": ".",
                "dockerfile": dockerfile_path(variant.name),
                "platforms": [platform],
                "tags": [image_tag("${PREFIX}", version, variant.name)],
                "args": {"REVISION": "${REVISION}"},
            }
            for variant in variants
        },
    }
    return json.dumps(document, indent=2) + "\n"


def stale_files(root: Path, files: Iterable[RenderedFile]) -> list[StaleFile]:
    """The outputs whose file under ``root`` is missing or differs from the rendering."""
    stale: list[StaleFile] = []
    for rendered in files:
        path = root / rendered.path
        try:
            current: str | None = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        except (OSError, UnicodeDecodeError):
            current = ""  # unreadable counts as different; the diff shows the whole file
        if current == rendered.text:
            continue
        diff = _diff(rendered.path, current, rendered.text)
        stale.append(StaleFile(rendered.path, "missing" if current is None else "differs", diff))
    return stale


def owned(text: str) -> str:
    """``text`` with the line that marks it as rendered, after any parser directives (which
    Docker reads only at the very top, e.g. ``# syntax=docker/dockerfile:1``)."""
    lines = text.splitlines(keepends=True)
    top = 0
    while top < len(lines) and _DIRECTIVE.match(lines[top]):
        top += 1
    return "".join([*lines[:top], RENDERED_MARK + "\n", *lines[top:]])


def is_owned(path: Path) -> bool:
    """Whether the file at ``path`` was written by `render` (its mark near the top)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            head = [stream.readline() for _ in range(_MARK_WITHIN)]
    except OSError:
        return False
    return any(line.rstrip("\n") == RENDERED_MARK for line in head)


def undeclared_dockerfiles(root: Path, variants: Iterable[Variant]) -> list[StaleFile]:
    """Orphans: files `render` wrote (they carry its mark) for variants no longer declared.

    Anything else under ``docker/`` (``Dockerfile.custom``, scripts) is the community's: never
    reported, never touched."""
    declared = {dockerfile_path(variant.name) for variant in variants}
    directory = root / OUTPUT_DIR
    if not directory.is_dir():
        return []
    found = sorted(f"{OUTPUT_DIR}/{entry.name}" for entry in directory.iterdir()
                   if entry.name.startswith("Dockerfile.") and entry.is_file()
                   and is_owned(entry))
    return [StaleFile(path, "orphan", "") for path in found if path not in declared]


def write_files(root: Path, files: Iterable[RenderedFile]) -> list[tuple[str, bool]]:
    """Write each output atomically (temp file + rename); returns (path, changed) pairs.

    Unchanged files are left alone, so their modification time stays meaningful to make-like
    tools and editors. A disk fault (``DiskFault``) puts back the files already replaced, so
    the outputs stay all old or all new.
    """
    results: list[tuple[str, bool]] = []
    replaced: list[tuple[Path, bytes | None, int]] = []  # path, what it held, its mode
    try:
        for rendered in files:
            path = root / rendered.path
            refuse_symlinked_folders(root, rendered.path)
            try:
                old = path.read_bytes()
            except OSError:
                old = None
            unchanged = old == rendered.text.encode("utf-8")
            if not unchanged:
                mode = stat.S_IMODE(path.stat().st_mode) if old is not None else 0o644
                atomic_write(path, rendered.text.encode("utf-8"), name=rendered.path)
                replaced.append((path, old, mode))
            results.append((rendered.path, not unchanged))
    except DiskFault as fault:
        raise _put_back(replaced, fault) from fault.__cause__
    return results


def _put_back(replaced: list[tuple[Path, bytes | None, int]], fault: DiskFault) -> DiskFault:
    """Restore what ``write_files`` replaced before ``fault``; the fault, saying how it ended."""
    left: list[str] = []
    for path, old, mode in reversed(replaced):
        try:
            if old is None:
                path.unlink()
            else:
                atomic_write(path, old, mode)
        except (OSError, SyncError):
            left.append(str(path))
    if left:
        return DiskFault(fault.message, hint=f"{RETRY}; these were rendered anew and could not "
                                             f"be put back: {', '.join(left)}")
    return fault


def refuse_symlinked_folders(root: Path, relative: str) -> None:
    """A ``RenderError`` when a folder on the way to ``relative`` is a symlink (or a file)."""
    linked = symlinked_folder(root, relative)
    if linked is not None:
        raise RenderError(f"{linked}: is a symbolic link (or not a folder) on the way to "
                          f"{relative}; refusing to write through it",
                          hint=f"replace {linked} with a real folder, then render again")


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, name: str | None = None) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half.

    A disk fault is a ``DiskFault`` naming ``name`` (default: ``path``); no temporary file is
    left.
    """
    if path.is_symlink():  # never write through a link into somewhere else
        raise RenderError(f"{path}: is a symbolic link; refusing to write through it",
                          hint="remove the link, then render again")
    with disk_faults("writing", name or path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


class UndefinedName(jinja2.UndefinedError):
    """An undefined variable or attribute, with its name (Jinja's message alone lacks it)."""

    def __init__(self, message: str, name: str | None, owner: Any) -> None:
        super().__init__(message)
        self.name = name
        self.owner = owner

    def describe(self, context: Mapping[str, Any]) -> str:
        """``name`` for a variable, ``variant.name`` for an attribute of a context value."""
        if self.owner is jinja2.utils.missing or self.owner is None:
            return str(self.name)
        for key, value in context.items():
            if value is self.owner:
                return f"{key}.{self.name}"
        return f"{type(self.owner).__name__}.{self.name}"


class _NamedUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose error carries the missing name, for a precise message."""

    __slots__ = ()

    def __init__(self, hint: str | None = None, obj: Any = jinja2.utils.missing,
                 name: str | None = None, exc: type[jinja2.TemplateRuntimeError] = UndefinedName,
                 ) -> None:
        super().__init__(hint, obj, name, exc)
        # Jinja raises ``self._undefined_exception(message)``: bind the name into it
        factory: Any = lambda message: UndefinedName(message, name, obj)  # noqa: E731
        self._undefined_exception = factory


def _template_line(tb: TracebackType | None, template: Path) -> int | str:
    """The template line of the innermost frame Jinja mapped back to ``template``."""
    wanted = os.path.normpath(str(template.resolve()))
    line: int | str = "?"
    for frame in traceback.extract_tb(tb):
        if frame.filename and os.path.normpath(os.path.abspath(frame.filename)) == wanted:
            line = frame.lineno or "?"
    return line


def _diff(path: str, current: str | None, fresh: str) -> str:
    before = (current or "").splitlines(keepends=True)
    after = fresh.splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, fromfile=f"a/{path}" if current is not None
                                 else "/dev/null", tofile=f"b/{path}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def _included(filename: str | None, template: Path, shown: str) -> str:
    """How to call the file a syntax error is in: the template itself, or one it includes."""
    if not filename or Path(filename).resolve() == template.resolve():
        return shown
    return _shown(Path(filename))


def _shown(path: Path) -> str:
    """Relative to the current directory when below it: messages stay short."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
