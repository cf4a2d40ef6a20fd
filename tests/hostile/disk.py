"""Real disk faults for one ``python -m sync`` run: a file-size limit, a full disk, a read-only
folder. No filesystem call is mocked; the kernel refuses the writes.

- ``run_with_file_size_limit``: ``RLIMIT_FSIZE`` in the child (SIGXFSZ ignored, as Python
  does), so a write past the limit fails with EFBIG ("File too large").
- ``run_on_full_disk``: in a private mount namespace (``unshare -m``), the project is copied
  onto a tmpfs mounted over its own path, with only ``free`` bytes left; the command runs there
  (ENOSPC, "No space left on device"), and what it left is copied back over the project when it
  ends, so the test inspects the outcome at the same path the command saw.
- ``run_read_only``: in a private mount namespace, the given folders of the project are bound
  read-only onto themselves (EROFS, "Read-only file system").

The namespaces vanish with the child: nothing is ever mounted in the tests' own namespace.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.hostile.state import snapshot

ROOT = Path(__file__).resolve().parents[2]
SETUP_FAILED = 99  # the child could not build the fault (a bug of the test, not of simapp-sync)

# copy the project onto a tmpfs of its own path; leave FREE bytes; run; copy the result out
_FULL_DISK = r"""
project=$1 out=$2 free=$3; shift 3
mount -t tmpfs -o size=1g,mode=0755 simapp-sync-full "$project" || exit 99
cp -a "$out/." "$project/" || exit 99
used=$(( $(stat -f -c '(%b - %f) * %S' "$project") ))
mount -o "remount,size=$(( (used + free + 4095) / 4096 * 4096 ))" "$project" || exit 99
"$@" -C "$project"; code=$?
find "$out" -mindepth 1 -delete || exit 99
cp -a "$project/." "$out/" || exit 99
exit $code
"""

# bind FOLDERS read-only onto themselves, then run
_READ_ONLY = r"""
count=$1; shift
while [ "$count" -gt 0 ]; do
    mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
    shift; count=$((count - 1))
done
exec "$@"
"""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def sync_command(*args: str) -> list[str]:
    """``python -m sync ARGS`` as a child runs it, with this checkout's code."""
    return [sys.executable, "-m", "sync", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def _finished(result: subprocess.CompletedProcess[str]) -> Run:
    assert result.returncode != SETUP_FAILED, f"could not set up the fault:\n{result.stderr}"
    return Run(result.returncode, result.stdout, result.stderr)


def run_with_file_size_limit(project: Path, args: Sequence[str], limit: int) -> Run:
    """Run ``sync ARGS -C project`` where no file may grow past ``limit`` bytes."""
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([*sync_command(*args), "-C", str(project)], capture_output=True,
                            text=True, env=environment(), preexec_fn=limit_file_size,
                            timeout=300)
    return _finished(result)


def run_on_full_disk(project: Path, args: Sequence[str], free: int) -> Run:
    """Run ``sync ARGS -C project`` on a disk holding the project with ``free`` bytes left.

    What the run left on that disk replaces the project afterwards (through a copy beside it).
    """
    held = project.with_name(project.name + ".held")
    shutil.copytree(project, held, symlinks=True)
    try:
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", _FULL_DISK,
             "full-disk", str(project), str(held), str(free), *sync_command(*args)],
            capture_output=True, text=True, env=environment(), timeout=300)
        if result.returncode != SETUP_FAILED:
            shutil.rmtree(project)
            held.rename(project)
    finally:
        shutil.rmtree(held, ignore_errors=True)
    return _finished(result)


def run_read_only(project: Path, args: Sequence[str], folders: Sequence[str]) -> Run:
    """Run ``sync ARGS -C project`` with ``folders`` (relative to the project) read-only."""
    paths = [str(project / folder) for folder in folders]
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _READ_ONLY, "read-only",
         str(len(paths)), *paths, *sync_command(*args), "-C", str(project)],
        capture_output=True, text=True, env=environment(), timeout=300)
    return _finished(result)


def fsck(project: Path) -> str:
    """``git fsck --strict`` of the project: raises when the object database is damaged."""
    result = subprocess.run(["git", "-C", str(project), "fsck", "--strict", "--no-progress"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def temporary_files(project: Path) -> list[str]:
    """Files a writer leaves while it works: git's and libgit2's temporary objects and locks,
    simapp-sync's temporary names (anything else under .git is the repository's own)."""
    found = []
    for path in project.rglob("*"):
        name = path.name
        if (name.startswith(("tmp_obj", "tmp_pack", "tmp_idx", "pack_git2_", "tmp_object_git2"))
                or name.endswith((".lock", ".tmp", ".simapp-sync-tmp"))
                or ".tmp" in name and name.startswith(".")):
            found.append(str(path.relative_to(project)))
    return sorted(found)


def assert_refused_cleanly(run: Run, *messages: str) -> None:
    """The run stopped on its disk fault (exit 1) with every one of ``messages`` in its error
    output, and no traceback."""
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    assert all(message in run.err for message in messages), run.err


def assert_untouched(project: Path, before: dict[str, str], check_objects: bool = True) -> None:
    """The project is as ``before`` (``state.snapshot``), with no temporary file left, and its
    object database whole (``git fsck --strict``) unless ``check_objects`` is False."""
    assert snapshot(project) == before
    assert temporary_files(project) == []
    if check_objects:
        fsck(project)
