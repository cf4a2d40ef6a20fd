"""Every --json document validates against the schema shipped in ``sync/schemas/`` (real outputs
of real runs, with ``jsonschema``), and one status vocabulary names a patch's state everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from sync import schemas
from sync.series.outcome import PATCH_STATUSES
from sync.ui import SCHEMA_VERSION
from tests.builders.images import write_docker_archive
from tests.commands.projects import AGENT, SERIES, UPSTREAM_FILES, Project, make_project

VALIDATED: set[str] = set()


def validate(name: str, document: dict) -> dict:
    """Check ``document`` against schema ``name`` (and the schema itself against the meta)."""
    schema = schemas.load(name)
    Draft202012Validator.check_schema(schema)
    errors = sorted(Draft202012Validator(schema).iter_errors(document), key=str)
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors[:5])
    assert document["schema_version"] == SCHEMA_VERSION
    VALIDATED.add(name)
    return document


def run_json(project: Project, name: str, *argv: str, code: int = 0) -> dict:
    result = project.run(*argv, "--json")
    assert result.code == code, (argv, result.err)
    return validate(name, json.loads(result.out))


@pytest.fixture
def simapp(tmp_path: Path) -> Project:
    made = make_project(tmp_path, UPSTREAM_FILES, SERIES)
    assert made.run("render").code == 0
    made.commit_all("render")
    return made


def conflicted(simapp: Project) -> None:
    simapp.move_upstream({"bundle/configs/environment.yml": b"tensorflow==2.20\nredis==5\n"})


def test_check_render_patches_and_status_documents(simapp: Project):
    run_json(simapp, "check", "check")
    run_json(simapp, "render", "render")
    run_json(simapp, "render-check", "render", "--check")
    run_json(simapp, "patches-list", "patches", "list")
    run_json(simapp, "patches-show", "patches", "show", "1")
    run_json(simapp, "patches-range-diff", "patches", "range-diff", "HEAD")
    run_json(simapp, "status", "status")
    (simapp.root / "VERSION").write_text("9.9.9\n")
    stale = run_json(simapp, "render-check", "render", "--check", code=1)
    assert stale["stale"]
    simapp.write("bundle/src/markov/agent.py", AGENT + b"# mine\n")
    drift = run_json(simapp, "check", "check", code=1)
    assert drift["drift"] == [{"path": "bundle/src/markov/agent.py", "kind": "modified"}]
    new = run_json(simapp, "patches-new", "patches", "new", "0003-mine.patch")
    assert new["files"] == ["bundle/src/markov/agent.py"]


def test_the_adopt_document(tmp_path: Path):
    made = make_project(tmp_path, UPSTREAM_FILES, SERIES)
    upstream = made.upstream
    made.git("rm", "-rq", "patches")
    made.git("branch", "-D", "upstream")
    made.git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "unmanaged")
    made.git("-c", "user.name=t", "-c", "user.email=t@x", "branch", "imported", upstream)
    adopted = run_json(made, "adopt", "adopt", "--upstream-rev", "imported", "--group", "file")
    assert [item["files"] for item in adopted["patches"]] == [
        ["bundle/configs/environment.yml"], ["bundle/src/markov/agent.py"]]


def test_rebase_documents_done_stopped_continued_and_aborted(simapp: Project):
    conflicted(simapp)
    listed = run_json(simapp, "patches-list", "patches", "list")
    assert [row["status"] for row in listed["patches"]] == ["clean", "conflict"]
    stopped = run_json(simapp, "rebase-patches", "rebase-patches", code=1)
    assert stopped["status"] == "conflict"
    during = run_json(simapp, "status", "status")
    assert during["rebase"]["stopped_at"] == "0002-environment-pins.patch"
    run_json(simapp, "report", "report")
    aborted = run_json(simapp, "rebase-patches", "rebase-patches", "--abort")
    assert aborted["status"] == "aborted"
    run_json(simapp, "rebase-patches", "rebase-patches", code=1)
    simapp.write("bundle/configs/environment.yml", "tensorflow==2.20\nredis==5\n")
    simapp.git("add", "bundle/configs/environment.yml")
    done = run_json(simapp, "rebase-patches", "rebase-patches", "--continue")
    assert done["status"] == "done"
    run_json(simapp, "patches-range-diff", "patches", "range-diff")
    run_json(simapp, "report", "report")


def test_the_error_document(simapp: Project, tmp_path: Path):
    result = run_json(simapp, "error", "patches", "show", "99", code=2)
    assert result["exit_code"] == 2 and "99" in result["error"]
    conflicted(simapp)
    simapp.run("rebase-patches")
    refused = run_json(simapp, "error", "render", code=1)
    assert refused["exit_code"] == 1


@pytest.mark.parametrize("argv", [["rebase-patches", "--fuzz", "lots"], ["no-such-command"],
                                  ["patches", "list", "--no-such-option"]])
def test_a_usage_error_under_json_is_an_error_document_too(simapp: Project, argv: list[str]):
    result = simapp.run(*argv, "--json")
    assert result.code == 2
    document = validate("error", json.loads(result.out))
    assert document["exit_code"] == 2 and document["error"]
    assert "usage:" in result.err  # argparse's own usage text, on stderr as always


def test_a_usage_error_without_json_prints_nothing_on_stdout(simapp: Project):
    result = simapp.run("rebase-patches", "--fuzz", "lots")
    assert (result.code, result.out) == (2, "")


def test_pull_pull_check_demo_and_ci_documents(repo_dir: Path, tmp_path: Path):
    from sync.sample import SAMPLE_MANIFEST, sample_image

    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    project = Project(repo_dir, None, "")  # type: ignore[arg-type]  # run() only needs root
    for version in (1, 2):
        write_docker_archive(tmp_path / f"v{version}.tar", sample_image(version))
    source = f"docker-archive:{tmp_path / 'v1.tar'}"
    news = run_json(project, "pull-check", "pull", "--check", "--from", source, code=1)
    assert news["recorded"] is None
    pulled = run_json(project, "pull", "pull", "--from", source)
    assert pulled["changed"] is True
    run_json(project, "pull-check", "pull", "--check", "--from", source)
    run_json(project, "pull-check", "pull", "--check", "--from",
             f"docker-archive:{tmp_path / 'v2.tar'}", code=1)
    run_json(project, "ci-init", "ci", "init", "--print")
    demo = run_json(project, "demo", "demo", "--keep", str(tmp_path / "demo"))
    assert demo["exit_code"] == 0


def test_every_schema_but_builds_is_exercised_here():
    """Run last (file order): build's, bundle's and publish's documents are validated by their
    Docker-backed tests."""
    assert VALIDATED | {"build", "bundle", "publish"} == set(schemas.names())


# --- one vocabulary -------------------------------------------------------------------------------
def _status_enums(node, found: list) -> list:
    if isinstance(node, dict):
        if node.get("description", "").startswith("the one patch status vocabulary"):
            found.append(node["enum"])
        for value in node.values():
            _status_enums(value, found)
    elif isinstance(node, list):
        for value in node:
            _status_enums(value, found)
    return found


def test_one_status_vocabulary_for_patches_in_every_schema():
    for name in ("rebase-patches", "patches-list", "check", "status"):
        enums = _status_enums(schemas.load(name), [])
        assert enums and all(enum == list(PATCH_STATUSES) for enum in enums), name


def test_the_same_patch_has_the_same_status_word_in_every_command(simapp: Project):
    conflicted(simapp)
    listed = run_json(simapp, "patches-list", "patches", "list")
    rebased = run_json(simapp, "rebase-patches", "rebase-patches", code=1)
    during = run_json(simapp, "status", "status")
    simapp.run("rebase-patches", "--abort")
    checked = run_json(simapp, "check", "check", "--rev", "HEAD")
    words = {
        "patches list": {row["name"]: row["status"] for row in listed["patches"]},
        "rebase-patches": {row["name"]: row["status"] for row in rebased["patches"]},
        "status": {**{row["name"]: row["status"] for row in during["rebase"]["patches"]},
                   during["rebase"]["stopped_at"]: "conflict"},
    }
    assert words["patches list"] == words["rebase-patches"] == words["status"] == {
        "0001-agent-logging.patch": "clean", "0002-environment-pins.patch": "conflict"}
    assert {row["status"] for row in checked["statuses"]} <= set(PATCH_STATUSES)


def test_the_readme_names_the_same_vocabulary():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    paragraph = readme[readme.index("A patch's `status` is one word"):]
    paragraph = paragraph[:paragraph.index("`status_text`")]
    assert re.findall(r"`([a-z ]+)`", paragraph.split(":", 1)[1]) == list(PATCH_STATUSES)
