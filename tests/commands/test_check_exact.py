"""`check` and `render --check` fail, alike, on a series that only applies with help, or that
carries conflict markers: what they pass is what `git apply` and `quilt push --fuzz=0` take."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands.projects import (
    AGENT,
    SERIES,
    UPSTREAM_FILES,
    PatchSpec,
    Project,
    make_project,
)

LOGGED = AGENT.replace(b"line 20\n", b"line 20 logged\n")


def rendered(simapp: Project) -> Project:
    """The project with its Dockerfiles rendered and committed (render --check can pass)."""
    assert simapp.run("render").code == 0
    simapp.commit_all("render")
    return simapp


def record_base(simapp: Project, files: dict[str, bytes]) -> None:
    """Upstream moves to ``files`` and the series records it, the patches left as they were."""
    commit = simapp.move_upstream(files)
    lines = simapp.read("patches/series").splitlines()
    simapp.write("patches/series", "\n".join([f"# upstream: {commit}", *lines[1:]]) + "\n")
    simapp.commit_all("series records the new upstream, patches not refreshed")


def verdicts(simapp: Project) -> tuple[int, int, str]:
    check = simapp.run("check")
    render = simapp.run("render", "--check")
    return check.code, render.code, " ".join((check.out + check.err + render.err).split())


def test_a_clean_series_passes_both(tmp_path: Path):
    simapp = rendered(make_project(tmp_path, UPSTREAM_FILES, SERIES))
    assert verdicts(simapp)[:2] == (0, 0)


def test_a_patch_already_upstream_fails_both_naming_it(tmp_path: Path):
    simapp = rendered(make_project(tmp_path, UPSTREAM_FILES, SERIES))
    record_base(simapp, {"bundle/src/markov/agent.py": LOGGED})  # 0001's change, upstream now
    check, render, out = verdicts(simapp)
    assert (check, render) == (1, 1)
    assert "0001-agent-logging.patch does not apply exactly (fuzz 0)" in out
    assert "absorbed" in out and "no drift" not in out
    assert "the patch series does not apply exactly" in out  # render's refusal says why


def test_a_patch_whose_context_moved_fails_both_naming_the_hunk(tmp_path: Path):
    simapp = rendered(make_project(tmp_path, UPSTREAM_FILES, SERIES))
    # upstream edits a context line of 0001's hunk; the targets already hold the merge
    moved = AGENT.replace(b"line 18\n", b"line 18 upstream\n")
    record_base(simapp, {"bundle/src/markov/agent.py": moved})
    simapp.write("bundle/src/markov/agent.py", moved.replace(b"line 20\n", b"line 20 logged\n"))
    simapp.commit_all("targets = new upstream + series")
    check, render, out = verdicts(simapp)
    assert (check, render) == (1, 1)
    assert "0001-agent-logging.patch does not apply exactly (fuzz 0)" in out
    assert "bundle/src/markov/agent.py: @@ -17,7 +17,7 @@" in out
    assert "the patch series does not apply exactly" in out  # render's refusal says why
    # refreshing makes it exact again, and both pass (once the labels name the new upstream)
    assert simapp.run("rebase-patches").code == 0
    simapp.commit_all("refreshed")
    assert verdicts(rendered(simapp))[:2] == (0, 0)


@pytest.mark.parametrize("marker", [b"<<<<<<< upstream 1a2b3c4\n", b"=======\n",
                                    b">>>>>>> 0001-x.patch\n"])
def test_a_series_that_writes_conflict_markers_fails_both(tmp_path: Path, marker: bytes):
    env = b"tensorflow==2.13\n" + marker + b"redis==4.5\n"
    series = [SERIES[0], PatchSpec("0002-environment-pins.patch", "Pin TensorFlow 2.13",
                                   {"bundle/configs/environment.yml": env})]
    simapp = make_project(tmp_path, UPSTREAM_FILES, series)
    before = simapp.git("status", "--porcelain", "--untracked-files=all")
    assert simapp.run("render").code == 1  # the gate refuses before writing anything
    assert simapp.git("status", "--porcelain", "--untracked-files=all") == before
    check, render, out = verdicts(simapp)
    assert (check, render) == (1, 1)
    assert "conflict markers the series writes into: bundle/configs/environment.yml" in out
    assert "conflict markers in: bundle/configs/environment.yml" in out  # render's refusal


@pytest.mark.parametrize("upstream_has", [b"=======\n", b"<<<<<<< ours\n"])
def test_marker_lines_upstream_already_has_are_not_conflicts(tmp_path: Path,
                                                             upstream_has: bytes):
    doc = b"Title\n" + upstream_has + b"text\n"
    upstream = {**UPSTREAM_FILES, "docs/index.rst": doc}
    series = [*SERIES, PatchSpec("0003-docs.patch", "Docs",
                                 {"bundle/docs/index.rst": doc + b"more text\n"})]
    simapp = rendered(make_project(tmp_path, upstream, series))
    assert verdicts(simapp)[:2] == (0, 0)
