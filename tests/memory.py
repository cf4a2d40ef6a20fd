"""Peak memory of the current process, for tests that run the tool in a subprocess."""

from __future__ import annotations

from pathlib import Path


def peak_rss_bytes() -> int:
    """The peak resident set size of this process image (VmHWM).

    Not ``getrusage().ru_maxrss``: Linux carries that over an ``execve``, so a child started
    from a large pytest process would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
