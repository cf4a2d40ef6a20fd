"""`sync check`: the targets are exactly upstream + series, or each drifting file is named."""

from __future__ import annotations

import json
from pathlib import Path

from tests.commands.projects import SERIES, UPSTREAM_FILES, Project, make_project


def project(tmp_path: Path) -> Project:
    return make_project(tmp_path, UPSTREAM_FILES, SERIES)


def test_a_clean_work_tree_passes_with_exit_0(tmp_path: Path):
    simapp = project(tmp_path)
    result = simapp.run("check")
    assert result.code == 0, result.err
    assert f"bundle/ in the work tree = upstream {simapp.upstream[:7]} + series (2 patches): " \
           "no drift" in result.out


def test_each_drifting_file_is_named_with_how_it_drifts_and_exit_1(tmp_path: Path):
    simapp = project(tmp_path)
    simapp.write("bundle/configs/environment.yml", "tensorflow==2.14\n")
    simapp.write("bundle/src/markov/new_helper.py", "print('hi')\n")
    (simapp.root / "bundle/README.md").unlink()
    result = simapp.run("check")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == f"3 files in the work tree differ from upstream {simapp.upstream[:7]} " \
                       "+ series:"
    assert lines[1].split() == ["missing", "bundle/README.md"]
    assert lines[2].split() == ["modified", "bundle/configs/environment.yml"]
    assert lines[3].split() == ["unexplained", "bundle/src/markov/new_helper.py"]
    assert "patches new NAME" in result.out


def test_a_patch_edited_without_its_target_is_drift_too(tmp_path: Path):
    simapp = project(tmp_path)
    patch = simapp.read("patches/0002-environment-pins.patch")
    simapp.write("patches/0002-environment-pins.patch",
                 patch.replace("+tensorflow==2.13", "+tensorflow==2.15"))
    result = simapp.run("check")
    assert result.code == 1
    assert "modified" in result.out and "bundle/configs/environment.yml" in result.out


def test_rev_checks_a_commit_and_ignores_the_work_tree(tmp_path: Path):
    simapp = project(tmp_path)
    good = str(simapp.repo.head.target)
    simapp.write("bundle/README.md", "edited\n")
    assert simapp.run("check").code == 1
    result = simapp.run("check", "--rev", "HEAD")
    assert result.code == 0, result.err
    assert "bundle/ in HEAD" in result.out
    simapp.commit_all("drift committed")
    assert simapp.run("check", "--rev", "HEAD").code == 1
    assert simapp.run("check", "--rev", good).code == 0


def test_the_recorded_base_is_the_reference_not_the_moved_upstream_branch(tmp_path: Path):
    simapp = project(tmp_path)
    base = simapp.upstream
    simapp.move_upstream({"bundle/README.md": b"a new upstream readme\n"})
    result = simapp.run("check", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["upstream"] == base and document["upstream_recorded"] is True


def test_json_mode_prints_one_document_with_the_drift(tmp_path: Path):
    simapp = project(tmp_path)
    simapp.write("bundle/README.md", "edited\n")
    result = simapp.run("check", "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document == {"schema_version": 1, "clean": False, "rev": None,
                        "upstream": simapp.upstream, "upstream_recorded": True,
                        "patches": 2, "conflict": None, "inexact": [], "markers": [],
                        "statuses": [
                            {"index": 1, "name": "0001-agent-logging.patch", "status": "clean"},
                            {"index": 2, "name": "0002-environment-pins.patch",
                             "status": "clean"}],
                        "drift": [{"path": "bundle/README.md", "kind": "modified"}]}


def test_a_series_that_does_not_apply_to_its_own_base_names_the_patch(tmp_path: Path):
    simapp = project(tmp_path)
    patch = simapp.read("patches/0001-agent-logging.patch")
    simapp.write("patches/0001-agent-logging.patch",
                 patch.replace("-line 20\n", "-line twenty\n").replace(" line 19\n",
                                                                       " line nineteen\n"))
    result = simapp.run("check", "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["conflict"]["patch"] == "0001-agent-logging.patch"
    assert document["conflict"]["files"] == ["bundle/src/markov/agent.py"]
    text = simapp.run("check")
    assert text.code == 1
    assert "0001-agent-logging.patch does not apply to upstream" in text.out


def test_bad_input_exits_2_with_a_message_naming_it(tmp_path: Path):
    simapp = project(tmp_path)
    missing = simapp.run("check", "--rev", "no-such-branch")
    assert missing.code == 2
    assert "--rev no-such-branch: no such commit" in missing.err
    simapp.write("patches/series", simapp.read("patches/series") + "0003-gone.patch\n")
    gone = simapp.run("check")
    assert gone.code == 2
    assert "patches/series:4: 0003-gone.patch: no such patch file" in gone.err
    assert gone.out == ""


def test_a_recorded_base_missing_from_the_repository_is_exit_2(tmp_path: Path):
    simapp = project(tmp_path)
    series = simapp.read("patches/series")
    simapp.write("patches/series", series.replace(simapp.upstream, "ab" * 20))
    result = simapp.run("check")
    assert result.code == 2
    assert f"recorded upstream {'ab' * 6} is not in this repository" in result.err


def test_a_rebase_in_progress_is_not_a_settled_series(tmp_path: Path):
    simapp = project(tmp_path)
    (Path(simapp.repo.path) / "simapp-sync" / "rebase").mkdir(parents=True)
    (Path(simapp.repo.path) / "simapp-sync" / "rebase" / "state.json").write_text("{}")
    result = simapp.run("check")
    assert result.code == 1
    assert "rebase-patches is in progress" in result.err
