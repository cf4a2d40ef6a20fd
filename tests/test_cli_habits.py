"""The command line fits git and docker habits: global options anywhere, the program's own
name in hints, examples in every --help, a pager only where git would page, quiet broken pipes,
shell completion, and ``schema_version`` in every JSON document."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync import program
from sync.cli import COMMANDS, build_parser, main
from tests.commands.projects import PatchSpec, make_project

ROOT = Path(__file__).resolve().parent.parent
BIG = b"".join(b"texture row %05d\n" % n for n in range(4000))


def _env(**extra: str) -> dict[str, str]:
    """This checkout's code, colours allowed (the autouse fixture sets NO_COLOR for others)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    environment.pop("NO_COLOR", None)
    return environment


@pytest.fixture
def big_project(tmp_path: Path):
    """A project whose one patch is longer than any terminal."""
    return make_project(tmp_path, {"meshes/track.dae": b"old\n"}, [
        PatchSpec("0001-track-mesh.patch", "Finer track mesh", {"bundle/meshes/track.dae": BIG}),
    ])


# --- global options ------------------------------------------------------------------------
@pytest.mark.parametrize("before", [True, False])
def test_global_options_are_accepted_before_or_after_the_command(
        before: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    options = ["--json", "-q", "--no-color", "--no-pager", "-C", str(tmp_path)]
    argv = [*options, "check"] if before else ["check", *options]
    assert main(argv) == 2  # not a repository: exit 2, reported as JSON
    document = json.loads(capsys.readouterr().out)
    assert "not inside a git repository" in document["error"]


def test_an_option_after_the_command_wins_over_the_same_option_before(tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    args = build_parser("check").parse_args(["-C", str(tmp_path), "check", "-C", str(other)])
    assert args.directory == str(other)
    args = build_parser("check").parse_args(["-C", str(tmp_path), "check"])
    assert args.directory == str(tmp_path)


def test_usage_errors_exit_two_wherever_the_option_is(capsys: pytest.CaptureFixture[str]):
    assert main(["--no-such-option", "check"]) == 2
    assert main(["check", "--no-such-option"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


# --- the program's name ----------------------------------------------------------------------
@pytest.mark.parametrize(("argv0", "expected"), [
    ("/usr/local/bin/simapp-sync", "simapp-sync"),
    ("/work/main/sync/__main__.py", "python -m sync"),
    ("", "python -m sync"),
])
def test_the_program_is_named_as_it_was_invoked(argv0: str, expected: str):
    assert program.name_from_argv0(argv0) == expected


def test_hints_spell_the_console_script_when_run_through_it(tmp_path: Path):
    script = Path(sys.executable).with_name("simapp-sync")
    assert script.exists(), "the console script is installed with the package"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                            env=_env(), check=True)
    assert result.stdout.startswith("usage: simapp-sync")
    assert "  simapp-sync demo" in result.stdout
    assert "python -m sync" not in result.stdout


def test_hints_spell_python_dash_m_when_run_as_a_module():
    result = subprocess.run([sys.executable, "-m", "sync", "--help"], capture_output=True,
                            text=True, env=_env(), check=True)
    assert result.stdout.startswith("usage: python -m sync")
    assert "  python -m sync demo" in result.stdout


# --- --version and examples ------------------------------------------------------------------
def test_version_names_the_program_and_its_version(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.startswith("simapp-sync 0.")


def _every_command_path(parser, prefix: str = ""):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                path = f"{prefix}{name}"
                yield path, subparser
                yield from _every_command_path(subparser, f"{path} ")


def test_every_commands_help_ends_with_two_to_four_examples():
    paths = dict(_every_command_path(build_parser()))
    assert set(COMMANDS) <= set(paths)
    for path, subparser in paths.items():
        help_text = subparser.format_help()
        tail = help_text[help_text.rindex("examples:"):]
        commands = [line for line in tail.splitlines() if line.startswith("  ") and
                    not line.startswith("      ")]
        assert 2 <= len(commands) <= 4, path
        assert all(line.strip().startswith(program.name()) for line in commands), path
        # each example names this very command
        assert all(path.split()[0] in line for line in commands
                   if "completion" not in path), path


# --- pager -----------------------------------------------------------------------------------
def _run_in_terminal(argv: list[str], env: dict[str, str], rows: int = 24,
                     timeout: float = 60) -> str:
    """Run argv with a real pseudo-terminal as stdin/stdout/stderr; what it showed."""
    import fcntl
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 100, 0, 0))
    env = {**env, "COLUMNS": "100", "LINES": str(rows), "TERM": "xterm-256color"}
    process = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                               close_fds=True)
    os.close(terminal)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    os.close(controller)
    return shown.decode("utf-8", "replace")


@pytest.fixture
def recording_pager(tmp_path: Path) -> tuple[str, Path]:
    """A pager that records its LESS variable and how many lines it was given."""
    record = tmp_path / "pager-record.json"
    script = tmp_path / "pager.py"
    script.write_text(
        "import json, os, sys\n"
        "data = sys.stdin.buffer.read()\n"
        f"open({str(record)!r}, 'w').write(json.dumps({{'LESS': os.environ.get('LESS'),"
        " 'lines': data.count(b'\\n'), 'escapes': b'\\x1b[' in data}))\n")
    return f"{sys.executable} {script}", record


def test_long_output_on_a_terminal_goes_through_the_pager_with_less_frx(
        big_project, recording_pager):
    command, record = recording_pager
    _run_in_terminal([sys.executable, "-m", "sync", "-C", str(big_project.root), "patches",
                      "show", "1"], _env(SIMAPP_SYNC_PAGER=command))
    seen = json.loads(record.read_text())
    assert seen["LESS"] == "FRX"
    assert seen["lines"] > 4000
    assert seen["escapes"], "colours reach the pager as colours (less -R shows them)"


def test_an_explicit_less_setting_is_kept(big_project, recording_pager):
    command, record = recording_pager
    _run_in_terminal([sys.executable, "-m", "sync", "-C", str(big_project.root), "patches",
                      "show", "1"], _env(PAGER=command, LESS="-S"))
    assert json.loads(record.read_text())["LESS"] == "-S"


def test_range_diff_pages_its_long_interdiffs(big_project, recording_pager):
    patch = big_project.root / "patches" / "0001-track-mesh.patch"
    patch.write_bytes(patch.read_bytes().replace(b"+texture row", b"+texture line"))
    command, record = recording_pager
    _run_in_terminal([sys.executable, "-m", "sync", "-C", str(big_project.root), "patches",
                      "range-diff", "HEAD"], _env(SIMAPP_SYNC_PAGER=command))
    assert json.loads(record.read_text())["lines"] > 4000


def test_no_pager_when_the_output_fits_the_screen(tmp_path: Path, recording_pager):
    command, record = recording_pager
    project = make_project(tmp_path, {"a.py": b"a\n"}, [
        PatchSpec("0001-a.patch", "A", {"bundle/a.py": b"b\n"})])
    shown = _run_in_terminal([sys.executable, "-m", "sync", "-C", str(project.root), "patches",
                              "show", "1"], _env(SIMAPP_SYNC_PAGER=command), rows=60)
    assert not record.exists()
    assert "+b" in shown


def test_no_pager_with_no_pager_or_off_a_terminal(big_project, recording_pager):
    command, record = recording_pager
    _run_in_terminal([sys.executable, "-m", "sync", "-C", str(big_project.root), "patches",
                      "show", "1", "--no-pager"], _env(SIMAPP_SYNC_PAGER=command))
    assert not record.exists()
    piped = subprocess.run([sys.executable, "-m", "sync", "-C", str(big_project.root),
                            "patches", "show", "1"], capture_output=True,
                           env=_env(SIMAPP_SYNC_PAGER=command), check=True)
    assert not record.exists()
    assert piped.stdout.count(b"\n") > 4000
    assert b"\x1b[" not in piped.stdout


# --- broken pipes ------------------------------------------------------------------------------
def test_a_closed_pipe_ends_quietly(big_project):
    reader = subprocess.Popen(
        f"{sys.executable} -m sync -C {big_project.root} patches show 1 | head -n 3",
        shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    out, err = reader.communicate(timeout=60)
    assert len(out.splitlines()) == 3
    assert err == b"", err.decode()


# --- JSON ------------------------------------------------------------------------------------
def test_every_json_document_carries_the_schema_version(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]):
    project = make_project(tmp_path, {"a.py": b"a\n"}, [
        PatchSpec("0001-a.patch", "A", {"bundle/a.py": b"b\n"})])
    for argv in (["check"], ["patches", "list"]):
        assert main([*argv, "--json", "-C", str(project.root)]) == 0
        assert json.loads(capsys.readouterr().out)["schema_version"] == 1


# --- completion ------------------------------------------------------------------------------
def _complete(line: str) -> list[str]:
    """Ask the CLI for completions exactly as argcomplete's shell hook does."""
    import tempfile

    with tempfile.NamedTemporaryFile("r") as answer:
        env = _env(_ARGCOMPLETE="1", _ARGCOMPLETE_SHELL="bash", COMP_LINE=line,
                   COMP_POINT=str(len(line)), _ARGCOMPLETE_STDOUT_FILENAME=answer.name,
                   _ARGCOMPLETE_IFS="\n")
        subprocess.run([sys.executable, "-m", "sync"], env=env, check=True, timeout=60,
                       capture_output=True)
        return [word.strip() for word in answer.read().split("\n")]


def test_completion_offers_commands_and_their_options():
    assert {"pull", "rebase-patches", "patches", "completion"} <= set(_complete("simapp-sync "))
    assert "--continue" in _complete("simapp-sync rebase-patches --con")
    assert {"list", "show", "new", "range-diff"} <= set(_complete("simapp-sync patches "))


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_prints_shell_code_that_the_shell_accepts(shell: str, tmp_path: Path):
    code = subprocess.run([sys.executable, "-m", "sync", "completion", shell],
                          capture_output=True, text=True, env=_env(), check=True).stdout
    assert "simapp-sync" in code
    if shell == "bash":
        script = tmp_path / "completion.bash"
        script.write_text(code)
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
