"""The JSON Schema (draft 2020-12) of each command's --json output, shipped as package data.

One file per document: ``<command>.schema.json`` (``pull``, ``pull-check``, ``rebase-patches``,
``check``, ``render``, ``render-check``, ``build``, ``patches-list``, ``patches-show``,
``patches-new``, ``patches-range-diff``, ``status``, ``report``, ``demo``, ``ci-init``, and
``error`` for the document any command prints when it fails). Every document carries
``schema_version`` (``sync.ui.SCHEMA_VERSION``); a change a reader would notice bumps it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def names() -> list[str]:
    """The documents that have a schema, e.g. ``["build", "check", ...]``."""
    suffix = ".schema.json"
    return sorted(entry.name.removesuffix(suffix) for entry in
                  resources.files(__name__).iterdir() if entry.name.endswith(suffix))


def load(name: str) -> dict[str, Any]:
    """The schema of document ``name`` (``"patches-list"``, ``"error"``...)."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document
