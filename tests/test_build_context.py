"""The build context check: a missing, undeclared or ignored image file stops `render` (exit 2)
naming it, before anything is written and long before a build would fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.build_context import (
    check_declared,
    check_sources,
    context_files,
    copy_sources,
    summarize_dockerfile,
)
from sync.config.manifest import parse_manifest
from sync.errors import ConfigError
from tests.commands.projects import Project, make_project
from tests.image_contract.conftest import BUNDLE, real_sections


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path, BUNDLE, variants=real_sections())


def refused(project: Project, *args: str) -> str:
    result = project.run("render", *args)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert not list((project.root / "docker").glob("Dockerfile.*"))  # nothing written
    return " ".join(result.err.split())


def test_the_real_project_renders(project: Project):
    result = project.run("render")
    assert result.code == 0, result.err


def test_a_missing_declared_file_is_named(project: Project):
    (project.root / "docker/files/robomaker/run.sh").unlink()
    message = refused(project)
    assert "upstream-manifest.yaml: image_files: docker/files/robomaker/run.sh does not exist" \
        in message
    assert refused(project, "--check") == message  # --check refuses the same way


def test_a_bundle_file_upstream_dropped_is_named(project: Project):
    project.move_upstream({"bundle/rl_coach.patch": None})
    (project.root / "bundle/rl_coach.patch").unlink()
    assert "image_files: bundle/rl_coach.patch does not exist" in refused(project)


def test_a_copy_source_the_manifest_does_not_declare_is_named(project: Project):
    template = project.read("Dockerfile.j2")
    project.write("Dockerfile.j2", template.replace(
        "COPY VERSION /opt/simapp-scripts/VERSION",
        "COPY VERSION /opt/simapp-scripts/VERSION\nCOPY README.md /opt/simapp-scripts/"))
    project.write("README.md", "readme\n")
    message = refused(project)
    assert "docker/Dockerfile.cpu:" in message
    assert "COPY README.md: no such file" not in message
    assert "COPY README.md: not declared in upstream-manifest.yaml (image_files)" in message


def test_a_copy_source_the_dockerignore_keeps_out_is_named(project: Project):
    ignore = project.read(".dockerignore").replace("!docker/files/robomaker/shutdown.sh\n", "")
    project.write(".dockerignore", ignore)
    message = refused(project)
    assert "COPY docker/files/robomaker/shutdown.sh: kept out of the build context by " \
           ".dockerignore" in message
    assert "!docker/files/robomaker/shutdown.sh" in message  # the fix


def test_image_files_must_be_plain_relative_paths():
    head = "image: x/y\npaths:\n  - {source: /opt/amazon, target: bundle}\nimage_files:\n"
    for bad in ("/etc/passwd", "../outside", "docker/../VERSION", "a//b"):
        with pytest.raises(ConfigError, match=r"m.yaml:5: image_files\[0\]: .* plain path"):
            parse_manifest(f"{head}  - {bad}\n", "m.yaml")
    assert parse_manifest(f"{head}  - docker/files/\n  - VERSION\n", "m.yaml").image_files == (
        "docker/files/", "VERSION")


def test_copy_sources_skip_other_stages_and_read_both_forms():
    text = ('FROM a AS one\nCOPY x /x\nFROM b\nCOPY --from=one /x /y\n'
            'COPY ["j s", "k", "/dest/"]\nADD --chown=1 l \\\n    m /n/\n')
    assert [(source.line, source.path) for source in copy_sources("D", text)] == [
        (2, "x"), (5, "j s"), (5, "k"), (6, "l"), (6, "m")]


def test_check_functions_on_a_plain_folder(tmp_path: Path):
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker/a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("s")
    (tmp_path / ".dockerignore").write_text("*\n!docker/\n")
    assert context_files(tmp_path) == {".dockerignore", "docker/a.txt"}
    check_declared(tmp_path, ("docker/", "docker/a.txt"), "m.yaml")
    with pytest.raises(ConfigError, match="image_files: docker/ does not exist"):
        check_declared(tmp_path / "docker", ("docker/",), "m.yaml")
    sources = copy_sources("D", "FROM a\nCOPY docker/ /d/\nCOPY secret.txt /s\n")
    with pytest.raises(ConfigError, match="D:3: COPY secret.txt: kept out of the build context"):
        check_sources(tmp_path, sources, (), "m.yaml")


def test_the_summary_of_a_rendered_dockerfile():
    summary = summarize_dockerfile('ARG BASE=ubuntu:20.04\nFROM ${BASE} AS one\nWORKDIR /w\n'
                                   'FROM one\nENTRYPOINT ["sh"]\nLABEL version="1.2"\n')
    assert summary.stages == (("one", "ubuntu:20.04"), ("1", "one"))
    assert (summary.workdir, summary.entrypoint, summary.cmd) == ("/", '["sh"]', "-")
    assert summary.labels == {"version": "1.2"}
