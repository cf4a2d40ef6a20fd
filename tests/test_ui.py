"""Output never fails on a file name that is not UTF-8: it prints as git's octal escapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sync.ui import UI
from tests.test_cli_habits import _run_in_terminal

RAW = os.fsdecode(b"bundle/caf\xe9.txt")
SCRIPT = f"""
import os
from sync.ui import UI
ui = UI.create()
ui.print(os.fsdecode({os.fsencode(RAW)!r}), markup=False)
ui.warn(os.fsdecode({os.fsencode(RAW)!r}))
"""


def test_a_raw_name_byte_reaches_a_strict_utf8_terminal_as_an_octal_escape():
    """A desktop locale (en_US.UTF-8) makes stdout strict: the escape, never a traceback."""
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"bundle/caf\\351.txt\n"
    assert b"bundle/caf\\351.txt" in result.stderr


def test_json_documents_quote_raw_names_and_stay_utf8(capsys):
    UI.create(json_mode=True).emit_json({"untracked": [RAW, "plain.txt"], "rules": {RAW: "x"}})
    out = capsys.readouterr().out
    assert json.loads(out.encode("utf-8")) == {
        "schema_version": 1, "untracked": ['"bundle/caf\\351.txt"', "plain.txt"],
        "rules": {'"bundle/caf\\351.txt"': "x"}}


JSON_SCRIPT = """
from sync.ui import UI
UI.create(json_mode=True).emit_json({"patches": [{"name": "0001.patch", "files": 1}]})
"""


def test_a_json_document_is_indented_at_a_terminal_and_one_line_for_a_program():
    piped = subprocess.run([sys.executable, "-c", JSON_SCRIPT], capture_output=True, check=True)
    assert piped.stdout.count(b"\n") == 1  # one line, then the newline
    shown = _run_in_terminal([sys.executable, "-c", JSON_SCRIPT], dict(os.environ))
    assert shown.replace("\r\n", "\n").startswith('{\n  "patches": [\n    {\n')
    assert json.loads(shown) == json.loads(piped.stdout) == {
        "schema_version": 1, "patches": [{"name": "0001.patch", "files": 1}]}
