"""A plain, non-editable install works on its own: build the wheel, install it into a fresh
virtual environment, and run `simapp-sync demo` in an empty folder (its template, data and
JSON schemas are package data, not files of this checkout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_runs_from_a_wheel_installed_in_a_fresh_venv(tmp_path: Path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("simapp_sync-*.whl")
    venv = tmp_path / "venv"
    # the dependencies come from this interpreter's site-packages: nothing is downloaded
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--force-reinstall", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    empty = tmp_path / "empty"
    empty.mkdir()
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(python), "-c", "import sync, sync.schemas; "
                            "print(sync.__file__); print(len(sync.schemas.names()))"],
                           cwd=empty, env=environment, capture_output=True, text=True,
                           check=True)
    module, schemas = where.stdout.split()
    assert Path(module).is_relative_to(venv), "the wheel's copy runs, not this checkout"
    assert int(schemas) >= 15
    result = subprocess.run([str(venv / "bin" / "simapp-sync"), "demo", "--json", "--keep",
                             "kept"], cwd=empty, env=environment, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == 0 and document["kept"] is True
    assert (empty / "kept" / "review.html").exists()
    assert [step["command"].split()[1] for step in document["steps"]][:2] == ["pull",
                                                                            "rebase-patches"]
    assert all(step["command"].startswith("simapp-sync ") for step in document["steps"])
