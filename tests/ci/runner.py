"""Run a GitHub Actions job's shell steps on this machine, as the runner would.

Enough of the runner for the workflow ``ci init`` writes: steps in order, ``if:`` conditions on
step outputs, ``${{ }}`` expressions from a fixed context, ``$GITHUB_OUTPUT`` and
``$RUNNER_TEMP``, bash with ``-eo pipefail``. ``uses:`` steps (checkout, setup-python, cache,
upload) are GitHub's own and are recorded, not run; so are the steps named in ``skip``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_OUTPUT = re.compile(r"steps\.([\w-]+)\.outputs\.([\w-]+)")


@dataclass
class JobRun:
    """What happened: each step's name and whether it ran, and the outputs it set."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)


def run_job(workflow: Path, job: str, workdir: Path, context: dict[str, str], *,
            env: dict[str, str], temp: Path, skip: tuple[str, ...] = ()) -> JobRun:
    """Run ``job`` of ``workflow`` in ``workdir``; AssertionError naming a step that fails."""
    spec: dict[str, Any] = yaml.safe_load(workflow.read_text())["jobs"][job]
    result = JobRun()
    context = {**context, "runner.temp": str(temp)}
    job_env = {key: _expand(str(value), context, result) for key, value in
               spec.get("env", {}).items()}
    for number, step in enumerate(spec["steps"]):
        name = step.get("name") or step.get("uses") or f"step {number}"
        condition = step.get("if")
        if "uses" in step or name in skip or (condition and not _true(condition, result)):
            result.skipped.append(name)
            continue
        output = temp / f"output-{number}"
        output.touch()
        step_env = {key: _expand(str(value), context, result)
                    for key, value in step.get("env", {}).items()}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               _expand(step["run"], context, result)], cwd=workdir,
                              env={**env, **job_env, **step_env, "GITHUB_OUTPUT": str(output),
                                   "RUNNER_TEMP": str(temp)},
                              capture_output=True, text=True, timeout=600, check=False)
        result.logs[name] = done.stdout + done.stderr
        assert done.returncode == 0, f"step {name!r} failed ({done.returncode}):\n" \
                                     f"{done.stdout}\n{done.stderr}"
        result.ran.append(name)
        if "id" in step:
            result.outputs[step["id"]] = dict(
                line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result


def _expand(text: str, context: dict[str, str], result: JobRun) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        output = _OUTPUT.fullmatch(expression)
        if output:
            return result.outputs.get(output.group(1), {}).get(output.group(2), "")
        assert expression in context, f"no value for ${{{{ {expression} }}}}"
        return context[expression]

    return _EXPRESSION.sub(value, text)


def _true(condition: str, result: JobRun) -> bool:
    """``steps.a.outputs.b == 'x' && ...``: the only shape of condition the workflow uses."""
    for clause in condition.split("&&"):
        match = re.fullmatch(r"\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*==\s*'([^']*)'\s*",
                             clause)
        assert match, f"unsupported condition {condition!r}"
        if result.outputs.get(match.group(1), {}).get(match.group(2), "") != match.group(3):
            return False
    return True


def environment(path_first: Path, repo_root: Path) -> dict[str, str]:
    """This process's environment with ``path_first`` ahead on PATH and this checkout's sync."""
    env = dict(os.environ)
    env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(repo_root)
    return env
