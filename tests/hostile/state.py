"""What "the repository exactly as it was" means in the hostile-input tests: every ref (branches,
the layer cache under refs/simapp-sync/), the index, the work tree and no rebase state."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def snapshot(project: Path) -> dict[str, str]:
    """Every ref, the index's hash, the work tree's status and the .git entries besides objects."""
    def git(*args: str) -> str:
        # --no-optional-locks: `git status` must not refresh (rewrite) the index it compares
        return subprocess.run(["git", "--no-optional-locks", "-C", str(project), *args], check=True,
                              capture_output=True, text=True).stdout

    index = project / ".git" / "index"
    state = {
        "refs": git("for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git("symbolic-ref", "-q", "HEAD"),
        "status": git("status", "--porcelain", "--ignored", "--untracked-files=all"),
        "index": hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else "",
        "git-dir": " ".join(sorted(entry.name for entry in (project / ".git").iterdir()
                                   if entry.name not in ("objects", "logs", "index"))),
    }
    return state
