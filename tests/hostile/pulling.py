"""Running ``sync pull`` on a hostile source in a child process, measured: its exit status,
stderr, wall time and peak memory, and whether the repository stayed exactly as it was."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sync.cli import main
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import write_oci_layout
from tests.hostile.state import snapshot

ROOT = Path(__file__).resolve().parents[2]
# the CLI's own entry point, reporting the child's peak memory (VmHWM) on stderr as it ends
_MEASURED = """\
import sys
from sync.cli import main
from tests.memory import peak_rss_bytes
try:
    code = main(sys.argv[1:])
finally:
    sys.stderr.write(f"\\npeak-rss {peak_rss_bytes()}\\n")
sys.exit(code)
"""


@dataclass(frozen=True)
class Pulled:
    status: int
    stderr: str
    seconds: float
    peak: int  # bytes
    unchanged: bool  # every ref, the index, the work tree: as before


def prepared(repo_dir: Path, tmp_path: Path) -> Path:
    """``repo_dir`` with the sample manifest and a first good pull (a branch, a layer cache)."""
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    write_oci_layout(tmp_path / "good", sample_image(1))
    assert main(["pull", "-q", "-C", str(repo_dir), "--from", f"oci:{tmp_path / 'good'}"]) == 0
    return repo_dir


def pull(repo_dir: Path, source: str, *options: str) -> Pulled:
    """``sync pull --from source`` in a child process (a hang fails the test after 120 s)."""
    before = snapshot(repo_dir)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _MEASURED, "pull", "-C", str(repo_dir),
                           "--from", source, *options], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.monotonic() - started
    found = re.search(r"peak-rss (\d+)", done.stderr)
    assert found, done.stderr
    return Pulled(done.returncode, done.stderr, seconds, int(found.group(1)),
                  snapshot(repo_dir) == before)


def assert_refused(pulled: Pulled, *named: str) -> None:
    """Issue 11's bar for a refusal: exit 2, no traceback, under 60 s and 512 MiB, the
    repository untouched, and every string of ``named`` in the message."""
    assert pulled.status == 2, pulled.stderr
    assert "Traceback" not in pulled.stderr, pulled.stderr
    assert pulled.seconds < 60, pulled.seconds
    assert pulled.peak < 512 * 1024**2, pulled.peak
    assert pulled.unchanged
    message = " ".join(pulled.stderr.split())  # rich wraps long lines
    for text in named:
        assert text in message, (text, pulled.stderr)
