"""`sync bundle`: the `bundle` stage built by BuildKit on the test engine, its install tree
exported into a folder (a small template whose stage builds offline from an imported base)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.commands.test_build import project_for, tiny_base  # noqa: F401  (the fixture)
from tests.test_json_schemas import validate

BUNDLE_TEMPLATE = """\
FROM {{ variant.base }} AS bundle
COPY bundle/ /opt/bundle/install/share/
RUN echo "built for {{ variant.name }}" > /opt/bundle/install/built-for

FROM {{ variant.base }} AS runtime
COPY --from=bundle /opt/bundle/install/ /opt/simapp/
"""
ROOT = Path(__file__).resolve().parents[2]


def test_bundle_writes_the_install_tree_of_the_bundle_stage(tmp_path: Path, tiny_base: str,  # noqa: F811
                                                            docker_host: str):
    project = project_for(tmp_path, tiny_base, template=BUNDLE_TEMPLATE)
    output = tmp_path / "install"
    output.mkdir()
    (output / "left-over-from-an-old-bundle").write_text("old\n")
    # the test engine has no bridge network: the RUN steps build offline
    result = project.run("bundle", "-o", str(output), "--network", "none", "--json")
    assert result.code == 0, result.err
    document = validate("bundle", json.loads(result.out))
    assert document["variant"] == "tiny" and document["output"] == str(output)
    assert (output / "built-for").read_text() == "built for tiny\n"
    assert (output / "share/src/simulation/launch.py").read_bytes() == b"print('launch')\n"
    assert not (output / "left-over-from-an-old-bundle").exists()  # replaced whole
    assert not (output / "bin").exists()  # only the install tree, not the stage's filesystem
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".bundle-")
                  ) == []


def test_bundle_refuses_a_stale_rendering_and_a_template_without_the_stage(
        tmp_path: Path, tiny_base: str, docker_host: str):  # noqa: F811
    no_stage = 'FROM {{ variant.base }}\nLABEL v="{{ version }}"\n'
    project = project_for(tmp_path, tiny_base, template=no_stage)
    result = project.run("bundle", "-o", str(tmp_path / "out"))
    assert result.code == 2
    assert "docker/Dockerfile.tiny: no stage named 'bundle'" in result.err
    project.write("VERSION", "9.9.9\n")
    stale = project.run("bundle", "-o", str(tmp_path / "out"))
    assert stale.code == 1 and "stale rendered file" in stale.err


def test_the_real_template_has_a_bundle_stage_with_the_install_tree_the_command_exports():
    template = (ROOT / "Dockerfile.j2").read_text()
    assert re.search(r"^FROM \S+ AS bundle$", template, re.MULTILINE)
    stage = template.split(" AS bundle", 1)[1].split("\nFROM ", 1)[0]
    assert "WORKDIR /opt/bundle" in stage and "colcon build" in stage  # -> /opt/bundle/install
