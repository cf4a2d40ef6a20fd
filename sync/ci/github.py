"""The GitHub Actions workflow that ``sync ci init`` writes (the template is package data).

The template holds GitHub's own ``${{ }}`` expressions and shell ``$VARIABLES``, so the few
values filled in here are marked ``@name@`` instead of using a template language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sync.config.manifest import Manifest
from sync.errors import ConfigError
from sync.render import atomic_write
from sync.untrusted import symlinked_folder

WORKFLOW_PATH = ".github/workflows/simapp-sync.yml"
DEFAULT_CRON = "17 5 * * *"  # daily, off the top of the hour when GitHub's queue is longest
DEFAULT_SOURCE = "docker://"
DEFAULT_PYTHON = "3.11"
DEFAULT_INSTALL = "simapp-sync"
_CRON_FIELD = re.compile(r"^[0-9*/,\-A-Za-z]+$")
_MARKER = re.compile(r"@([a-z_]+)@")


@dataclass(frozen=True)
class WorkflowOptions:
    """What the written workflow is made of; the defaults suit the community repository."""

    cron: str = DEFAULT_CRON
    source: str = DEFAULT_SOURCE  # the --from transport of pull --check and pull
    python: str = DEFAULT_PYTHON
    install: str = DEFAULT_INSTALL  # a pip requirement: a name, a version pin, a VCS URL
    pr_prefix: str | None = None  # default: see ``pr_prefix``


def pr_prefix(manifest: Manifest) -> str:
    """``<branch>-pr/``: git cannot hold ``upstream/<tag>`` beside a branch named ``upstream``."""
    return f"{manifest.branch}-pr/"


def render_workflow(manifest: Manifest, options: WorkflowOptions) -> str:
    """The workflow's text for ``manifest``'s upstream branch, with ``options`` filled in."""
    _check(options)
    values = {"cron": options.cron, "branch": manifest.branch,
              "pr_prefix": options.pr_prefix or pr_prefix(manifest), "source": options.source,
              "python": options.python, "install": options.install}
    template = resources.files("sync.ci").joinpath("simapp-sync.yml").read_text("utf-8")
    return _MARKER.sub(lambda match: values[match.group(1)], template)


def write_workflow(root: Path, text: str, *, force: bool = False) -> tuple[Path, bool]:
    """Write ``text`` to the workflow file under ``root``; (path, changed).

    An existing file with other content is kept unless ``force``: it may hold local edits.
    """
    path = root / WORKFLOW_PATH
    linked = symlinked_folder(root, WORKFLOW_PATH)
    if linked is not None or path.is_symlink():
        raise ConfigError(f"{linked or WORKFLOW_PATH}: is a symbolic link (or not a folder) on "
                          f"the way to {WORKFLOW_PATH}; refusing to write through it",
                          hint="replace it with a real folder or file, then run again")
    if path.exists():
        current = path.read_text("utf-8")
        if current == text:
            return path, False
        if not force:
            raise ConfigError(f"{WORKFLOW_PATH}: exists with other content (edited by hand, or "
                              "written by another version)",
                              hint="compare it with the new text (`ci init --print`), then "
                                   "pass --force to replace it")
    atomic_write(path, text.encode("utf-8"), name=WORKFLOW_PATH)  # a disk fault: DiskFault
    return path, True


def _check(options: WorkflowOptions) -> None:
    fields = options.cron.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
        raise ConfigError(f"--cron {options.cron!r}: not a five-field cron schedule",
                          hint='e.g. --cron "17 5 * * *" (daily at 05:17 UTC)')
    for name, value in (("--from", options.source), ("--python", options.python),
                        ("--install", options.install)):
        if not value or any(char in value for char in "\"\n\\$`"):
            raise ConfigError(f"{name} {value!r}: empty, or holds a quote, $, ` or \\",
                              hint="the value is written inside a double-quoted YAML string")
