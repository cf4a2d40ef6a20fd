"""Running the image's shell scripts on this machine, with recording stubs on PATH.

A stub is a small script that appends one JSON line per call to ``calls.jsonl``: its name,
arguments, working directory and the environment variables a test asks about; then it waits
``STUB_HOLD_<name>`` seconds and exits with ``STUB_EXIT_<name>`` (0). The real
programs the scripts call for their own work (bash, jq, xmlstarlet, patch, grep, awk) are the
machine's.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "docker" / "files"
# variables every stub records, when set
RECORDED = ("DISPLAY", "XAUTHORITY", "ROLLOUT_IDX", "DEEPRACER_JOB_TYPE_ENV", "IGN_IP",
            "S3_YAML_NAME", "WORLD_NAME", "ROS_SETUP", "SIMAPP_SETUP", "PYTHONPATH")

STUB = """#!/usr/bin/env python3
import json, os, sys, time
record = {{"name": os.path.basename(sys.argv[0]), "args": sys.argv[1:], "cwd": os.getcwd(),
          "env": {{key: os.environ[key] for key in {recorded!r} if key in os.environ}}}}
with open({log!r}, "a") as log:
    log.write(json.dumps(record) + "\\n")
key = record["name"].replace("-", "_").replace(".", "_")
time.sleep(float(os.environ.get("STUB_HOLD_" + key, "0")))  # a server that keeps running
sys.exit(int(os.environ.get("STUB_EXIT_" + key, "0")))
"""


@dataclass(frozen=True)
class Call:
    """One call of a stub."""

    name: str
    args: list[str]
    cwd: str
    env: dict[str, str]


@dataclass
class Result:
    code: int
    out: str
    err: str
    calls: list[Call]

    def called(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]


class Stubs:
    """A folder of recording stubs, put first on PATH."""

    def __init__(self, directory: Path, names: Sequence[str]) -> None:
        self.bin = directory / "bin"
        self.bin.mkdir(parents=True)
        self.log = directory / "calls.jsonl"
        for name in names:
            path = self.bin / name
            path.write_text(STUB.format(recorded=RECORDED, log=str(self.log)))
            path.chmod(0o755)

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None,
            timeout: float = 60) -> Result:
        full = {"PATH": f"{self.bin}:{os.environ['PATH']}", "HOME": os.environ["HOME"],
                "LANG": "C.UTF-8", **env}
        done = subprocess.run(list(argv), env=full, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        calls = []
        if self.log.exists():
            calls = [Call(**json.loads(line)) for line in self.log.read_text().splitlines()]
            self.log.unlink()
        return Result(done.returncode, done.stdout, done.stderr, calls)
