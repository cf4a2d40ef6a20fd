"""One exit-code table for every command (README "Exit codes"): 0 ok, 1 needs attention,
2 bad input or usage, 130 interrupted (refs and files as before), 141 closed pipe."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest

from sync import cli
from sync.cli import build_parser, main
from sync.errors import BuildError, CheckFailed, ConfigError, ConflictError, SyncError
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import Dir, File, ImageSpec, LayerSpec, Stream, write_docker_archive
from tests.commands.projects import PatchSpec, Project, make_project
from tests.test_cli_habits import _every_command_path

ROOT = Path(__file__).resolve().parent.parent
TABLE = {0: "ok", 1: "needs attention", 2: "bad input or usage", 130: "interrupted",
         141: "closed pipe"}


def test_the_readme_table_is_the_one_the_code_uses():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Exit codes"):]
    section = section[:section.index("\n## ", 1)]
    rows = dict(re.findall(r"^\| `(\d+)` \| ([^|]+?) \|", section, flags=re.M))
    assert {int(code): meaning for code, meaning in rows.items()} == TABLE
    assert (cli.EXIT_OK, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED, cli.EXIT_BROKEN_PIPE) == \
        (0, 2, 130, 141)
    # errors: bad input is 2, anything that needs a person's attention is 1
    assert SyncError.exit_code == ConfigError.exit_code == 2
    assert ConflictError.exit_code == CheckFailed.exit_code == BuildError.exit_code == 1


@pytest.mark.parametrize("path", sorted(path for path, _ in _every_command_path(build_parser())))
def test_a_usage_error_is_two_in_every_command(path: str, capsys: pytest.CaptureFixture[str]):
    assert main([*path.split(), "--no-such-option"]) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.fixture
def project(tmp_path: Path) -> Project:
    old = b"".join(b"line %02d\n" % n for n in range(1, 21))
    made = make_project(tmp_path, {"app.py": old}, [
        PatchSpec("0001-fix.patch", "Fix", {"bundle/app.py": old.replace(b"line 05\n",
                                                                          b"patched\n")})])
    assert made.run("render").code == 0
    return made


def test_build_follows_the_table_before_it_reaches_the_engine(project: Project):
    unknown = project.run("build", "--variant", "arm")
    assert unknown.code == 2 and "arm" in unknown.err
    (project.root / "VERSION").write_text("9.9.9\n")
    stale = project.run("build", "--variant", "cpu")
    assert stale.code == 1 and "stale rendered files" in stale.err


def _refs(path: Path) -> dict[str, str]:
    repo = pygit2.Repository(str(path))
    found = {name: str(repo.references[name].target) for name in repo.references
             if not name.startswith("refs/simapp-sync/")}  # the layer checkpoints are a cache
    found["HEAD"] = str(repo.head.target)
    return found


def _files(path: Path) -> dict[str, bytes]:
    return {str(file.relative_to(path)): file.read_bytes() for file in sorted(path.rglob("*"))
            if file.is_file() and ".git" not in file.relative_to(path).parts}


def _interrupt_when(argv: list[str], ready, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run argv; when ``ready(stderr so far)`` says so, send SIGINT as Ctrl-C would."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SIMAPP_SYNC_PROGRESS_INTERVAL": "0.1"}
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment)
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(process.stderr.fileno(), False)
    while time.monotonic() < deadline and process.poll() is None:
        seen += process.stderr.read() or b""
        if ready(seen.decode("utf-8", "replace")):
            break
        time.sleep(0.01)
    assert process.poll() is None, "the command finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, process.returncode, out, seen + (err or b""))


def test_ctrl_c_during_a_pull_exits_130_and_leaves_refs_and_files_as_before(repo_dir: Path,
                                                                           tmp_path: Path):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    assert main(["pull", "-q", "-C", str(repo_dir), "--from",
                 f"docker-archive:{tmp_path / 'v1.tar'}"]) == 0
    refs, files = _refs(repo_dir), _files(repo_dir)
    big = ImageSpec(layers=tuple(LayerSpec([Dir("opt/amazon"), File(
        f"opt/amazon/model{n}.bin", Stream.pattern(40 * 1024 * 1024, seed=b"%d" % n))],
        compression="none") for n in range(6)))
    write_docker_archive(tmp_path / "big.tar", big)
    result = _interrupt_when(
        [sys.executable, "-m", "sync", "pull", "-C", str(repo_dir), "--from",
         f"docker-archive:{tmp_path / 'big.tar'}"],
        lambda err: "reading 1/6" in err)
    assert result.returncode == 130, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    assert b"error: interrupted" in result.stderr
    assert _refs(repo_dir) == refs and _files(repo_dir) == files


def test_ctrl_c_during_a_rebase_exits_130_and_leaves_refs_and_files_as_before(tmp_path: Path):
    old = b"".join(b"line %03d\n" % n for n in range(1, 401))
    count = 150
    made = make_project(tmp_path, {f"m{n:03d}.py": old for n in range(count)}, [
        PatchSpec(f"{n:04d}-m.patch", f"Change {n}",
                  {f"bundle/m{n:03d}.py": old.replace(b"line 200\n", b"patched\n")})
        for n in range(count)])
    made.move_upstream({f"bundle/m{n:03d}.py": b"first\n" + old for n in range(count)})
    refs, files = _refs(made.root), _files(made.root)
    result = _interrupt_when(
        [sys.executable, "-m", "sync", "rebase-patches", "-C", str(made.root)],
        lambda err: "rebasing patches: " in err)
    assert result.returncode == 130, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    assert _refs(made.root) == refs and _files(made.root) == files
    assert not (made.root / ".git" / "simapp-sync" / "rebase" / "state.json").exists()
