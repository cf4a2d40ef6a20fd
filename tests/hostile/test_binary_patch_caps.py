"""Binary patches are capped before they are expanded (issue 11, class 7).

A ``GIT binary patch`` section of a few hundred bytes can claim gigabytes: a ``literal``
or ``delta`` header with a huge size, a deflate stream that inflates far past its header, or a
delta whose copy instructions repeat the preimage. Each is refused with exit 2, naming the
patch and its line, before the memory is taken, and the repository stays as it was.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from sync.git.objects import blob_id
from sync.series.binary import (
    DEFAULT_MAX_BINARY_SIZE,
    MAX_BINARY_SIZE_ENV,
    BinaryProblem,
    apply_delta,
    decode_lines,
)
from tests.commands.projects import SERIES, UPSTREAM_FILES, Project, make_project
from tests.hostile.state import snapshot
from tests.series.builders import base85_block, base85_line

MIB = 1024**2
WEIGHTS = hashlib.shake_128(b"weights").digest(64 * 1024)  # the preimage the delta copies
BOMB_TARGET = 255 * MIB


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def repeating_delta(source_size: int, target_size: int) -> bytes:
    """A git delta that copies the whole 64 KiB preimage again and again (one byte each)."""
    assert source_size == 0x10000
    return varint(source_size) + varint(target_size) + b"\x80" * (target_size // 0x10000)


def mail(subject: str, path: str, old: str, new: str, section: bytes) -> bytes:
    return (f"From: Test Maintainer <maintainer@example.com>\nSubject: [PATCH] {subject}\n\n"
            f"---\ndiff --git a/{path} b/{path}\nindex {old}..{new} 100644\n"
            f"GIT binary patch\n").encode() + section + b"\n"


def delta_bomb() -> bytes:
    """The issue's case: a mail whose binary section is a few hundred bytes, for 255 MiB."""
    instructions = zlib.compress(repeating_delta(len(WEIGHTS), BOMB_TARGET), 9)
    section = b"delta %d\n" % len(repeating_delta(len(WEIGHTS), BOMB_TARGET))
    section += base85_block(instructions)
    return mail("Grow the weights", "bundle/models/weights.bin", blob_id(WEIGHTS), "1" * 40,
                section)


@pytest.fixture
def simapp(tmp_path: Path) -> Project:
    project = make_project(tmp_path, {**UPSTREAM_FILES, "models/weights.bin": WEIGHTS}, SERIES)
    return project


def add_patch(simapp: Project, name: str, text: bytes) -> None:
    simapp.write(f"patches/{name}", text)
    simapp.write("patches/series", simapp.read("patches/series") + f"{name}\n")
    simapp.commit_all(f"add {name}")


def run_measured(simapp: Project, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """``python -m sync ARGS`` in a child; its exit, output and its own peak memory."""
    measure = ("import sys\nfrom sync.cli import main\nfrom tests.memory import peak_rss_bytes\n"
               "code = main(sys.argv[1:])\nprint(peak_rss_bytes(), file=sys.stderr)\n"
               "sys.exit(code)\n")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", measure, *args, "-C", str(simapp.root)],
                            capture_output=True, text=True, timeout=60, env=env)
    return result, int(result.stderr.strip().splitlines()[-1])


def test_the_section_is_a_few_hundred_bytes():
    assert len(delta_bomb().split(b"GIT binary patch\n")[1]) <= 384


def test_a_384_byte_delta_claiming_255_mib_is_refused_by_every_command(simapp: Project):
    add_patch(simapp, "0003-weights.patch", delta_bomb())
    simapp.move_upstream({"README.md": b"upstream moved\n"})
    before = snapshot(simapp.root)
    for command in (("rebase-patches",), ("check",)):
        started = time.monotonic()
        result, peak = run_measured(simapp, *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        err = " ".join(result.stderr.split())
        assert "0003-weights.patch" in err and "bundle/models/weights.bin" in err
        assert f"{BOMB_TARGET:,} bytes is over the binary patch limit (64 MiB" in err
        assert MAX_BINARY_SIZE_ENV in err and "Traceback" not in result.stderr
        assert time.monotonic() - started < 30 and peak < 256 * MIB, peak
        assert snapshot(simapp.root) == before


def test_a_header_over_the_cap_is_refused_when_the_patch_is_read(simapp: Project):
    section = b"literal %d\n" % (DEFAULT_MAX_BINARY_SIZE + 1) + base85_line(zlib.compress(b"x"))
    add_patch(simapp, "0003-huge.patch",
              mail("Huge", "bundle/models/huge.bin", "0" * 40, "2" * 40, section + b"\n"))
    before = snapshot(simapp.root)
    result = simapp.run("patches", "list")
    assert result.code == 2
    assert ("patches/0003-huge.patch:8: 'literal' data of 67,108,865 bytes is over the binary "
            "patch limit") in " ".join(result.err.split())
    assert snapshot(simapp.root) == before


def test_the_cap_is_raised_from_the_environment(simapp: Project,
                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(MAX_BINARY_SIZE_ENV, "1G")
    with pytest.raises(BinaryProblem, match="produces more than the 1 bytes"):
        apply_delta(WEIGHTS, varint(len(WEIGHTS)) + varint(1) + b"\x80")
    monkeypatch.setenv(MAX_BINARY_SIZE_ENV, "lots")
    add_patch(simapp, "0003-weights.patch", delta_bomb())
    result = simapp.run("check")
    assert result.code == 2 and f"{MAX_BINARY_SIZE_ENV}: invalid size 'lots'" in result.err


def test_a_literal_that_inflates_past_its_header_stops_at_the_header():
    zeros = zlib.compressobj(9)
    deflated = b"".join(zeros.compress(bytes(MIB)) for _ in range(256)) + zeros.flush()
    lines = [base85_line(deflated[at:at + 52]) for at in range(0, len(deflated), 52)]
    started = time.monotonic()
    with pytest.raises(BinaryProblem, match="inflates to more than the 100 bytes"):
        decode_lines(lines, 3, 100)
    assert time.monotonic() - started < 5


def test_a_delta_result_over_the_cap_is_refused_before_it_is_built():
    delta = repeating_delta(len(WEIGHTS), BOMB_TARGET)
    started = time.monotonic()
    with pytest.raises(BinaryProblem, match="a delta's result of 267,386,880 bytes is over"):
        apply_delta(WEIGHTS, delta)
    assert time.monotonic() - started < 1


def test_a_cut_short_deflate_stream_is_refused():
    deflated = zlib.compress(b"binary content " * 20)
    with pytest.raises(BinaryProblem, match="cut short"):
        decode_lines([base85_line(deflated[:-4])], 3, 300)
