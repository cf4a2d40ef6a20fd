"""Run one command in a fresh process; report its peak memory and progress updates (JSON).

    python benchmarks/measure.py OUT.json sync ARGS...   # python -m sync ARGS, in this process
    python benchmarks/measure.py OUT.json exec CMD...    # any program (peak of it and its children)
    python benchmarks/measure.py OUT.json quilt DIR NAMES  # the quilt push -a loop (see below)

A benchmark helper, not part of the tool. Peak memory is VmHWM for ``sync`` (this process:
``ru_maxrss`` would survive an exec and report the parent) and ``RUSAGE_CHILDREN`` for others
(the largest child; this process starts with none). ``sync`` also records the time of every
progress bar update (``sync.ui.ConsoleBar``, which the rebase session's bars go through), to
find the longest stretch without progress output.

The quilt loop: ``quilt push -a``; a patch that does not apply (GNU patch refuses git binary
patches; a conflict) is taken out of the series (``quilt delete -n``: quilt would not push past
a forced patch until it is refreshed, which would drop its binary part) and, for a patch named in
NAMES (comma-separated ``name=path:resolution-file`` items), the resolution is copied in, as a
maintainer would; then the push goes on.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

# subprocess, shutil and resource are imported by the modes that use them: a ``sync`` run is
# timed with only what the tool itself loads (they cost milliseconds a --continue does not)


def _vmhwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _children_peak() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def run_sync(argv: list[str]) -> dict[str, object]:
    events: list[float] = []
    from sync import cli
    from sync.ui import ConsoleBar

    # every bar of a rebase goes through the session's display, ConsoleBar, shown or not (as
    # with --json): hooked there, this process loads nothing the tool does not (hooking rich's
    # Progress loaded rich into a --json run, which draws nothing and never imports it)
    update, advance, describe = ConsoleBar.update, ConsoleBar.advance, ConsoleBar.describe

    def timed_update(self: ConsoleBar, *args: Any, **kwargs: Any) -> None:
        events.append(time.time())
        update(self, *args, **kwargs)

    def timed_advance(self: ConsoleBar, *args: Any, **kwargs: Any) -> None:
        events.append(time.time())
        advance(self, *args, **kwargs)

    def timed_describe(self: ConsoleBar, *args: Any, **kwargs: Any) -> None:
        events.append(time.time())
        describe(self, *args, **kwargs)

    ConsoleBar.update = timed_update  # type: ignore[method-assign]
    ConsoleBar.describe = timed_describe  # type: ignore[method-assign]
    ConsoleBar.advance = timed_advance  # type: ignore[method-assign]
    sys.argv = ["simapp-sync", *argv]
    code = cli.main()  # started as the console script starts it (from sys.argv)
    sys.stdout.flush()
    return {"exit": code, "peak": _vmhwm(), "events": events, "end": time.time()}


def run_exec(argv: list[str]) -> dict[str, object]:
    import subprocess

    started = time.time()
    code = subprocess.run(argv, check=False).returncode
    return {"exit": code, "peak": _children_peak(), "seconds": time.time() - started}


def run_quilt(folder: str, resolutions: str) -> dict[str, object]:
    import shutil
    import subprocess

    fixes = {}
    for item in filter(None, resolutions.split(",")):
        name, _, rest = item.partition("=")
        path, _, source = rest.partition(":")
        fixes[name] = (path, source)
    started = time.time()
    calls = removed = 0
    quiet = {"cwd": folder, "capture_output": True, "check": False,
             "stdin": subprocess.DEVNULL}
    seen = set()
    while True:
        calls += 1
        if subprocess.run(["quilt", "push", "-a", "-q"], **quiet).returncode == 0:  # type: ignore[call-overload]
            break
        upcoming = subprocess.run(["quilt", "next"], **quiet).stdout.decode().strip()  # type: ignore[call-overload]
        if not upcoming or upcoming in seen:
            break
        seen.add(upcoming)
        calls += 2
        removed += 1
        subprocess.run(["quilt", "delete", "-n"], **quiet)  # type: ignore[call-overload]
        fix = fixes.get(Path(upcoming).name)
        if fix is not None:
            shutil.copyfile(fix[1], Path(folder) / fix[0])
    return {"exit": 0, "peak": _children_peak(), "seconds": time.time() - started,
            "calls": calls, "removed": removed}


def main() -> None:
    out, mode, *rest = sys.argv[1:]
    if mode == "sync":
        result = run_sync(rest)
    elif mode == "exec":
        result = run_exec(rest)
    else:
        result = run_quilt(rest[0], rest[1] if len(rest) > 1 else "")
    Path(out).write_text(json.dumps(result))
    sys.exit(int(result["exit"]))  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
