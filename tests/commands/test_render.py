"""`sync render`: gated on a clean series, deterministic output, --check for CI, precise errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sync.config.variants import Variant
from sync.config.version import read_version
from sync.render import RENDERED_MARK, owned, render_variant
from sync.upstream import Upstream
from tests.commands.projects import UPSTREAM_DIGEST, UPSTREAM_IMAGE, PatchSpec, make_project

UPSTREAM_FILES = {
    "src/markov/agent.py": b"".join(b"line %d\n" % n for n in range(1, 41)),
    "src/markov/rewards.py": b"def reward(params):\n    return 1.0\n",
    "configs/environment.yml": b"tensorflow==2.12\nredis==4.5\n",
}

SERIES = [
    PatchSpec("0001-agent-logging.patch", "Log every tenth step",
              {"bundle/src/markov/agent.py": UPSTREAM_FILES["src/markov/agent.py"].replace(
                  b"line 20\n", b"line 20 with logging\n")}),
    PatchSpec("0002-environment-pins.patch", "Pin TensorFlow 2.13",
              {"bundle/configs/environment.yml": b"tensorflow==2.13\nredis==4.5\n"}),
]


def project_with_series(tmp_path: Path, **kwargs: object):
    return make_project(tmp_path, UPSTREAM_FILES, SERIES, **kwargs)  # type: ignore[arg-type]


def expected_dockerfile(project, variant: Variant) -> str:
    upstream = Upstream(commit=project.upstream, image=UPSTREAM_IMAGE, digest=UPSTREAM_DIGEST)
    return owned(render_variant(project.root / "Dockerfile.j2", variant,
                                read_version(project.root / "VERSION"), upstream))


CPU = Variant("cpu", "ubuntu:20.04", "tensorflow-cpu==2.13.1")
GPU = Variant("gpu", "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04", "tensorflow==2.13.1",
              packages=("cuda-nvcc-11-8",), nvidia=True)


def test_render_writes_every_variant_and_the_bake_file(tmp_path: Path):
    project = project_with_series(tmp_path)
    result = project.run("render")
    assert result.code == 0, result.err
    assert project.read("docker/Dockerfile.cpu") == expected_dockerfile(project, CPU)
    assert project.read("docker/Dockerfile.gpu") == expected_dockerfile(project, GPU)
    bake = json.loads(project.read("docker-bake.json"))
    assert set(bake["target"]) == {"cpu", "gpu"}
    assert bake["target"]["gpu"]["tags"] == ["${PREFIX}/deepracer-simapp:5.3.3-gpu"]
    for path in ("docker/Dockerfile.cpu", "docker/Dockerfile.gpu", "docker-bake.json"):
        assert re.search(rf"^{re.escape(path)} +written", result.out, re.MULTILINE)
    # labels carry what the upstream branch records
    assert f'upstream.commit="{project.upstream}"' in project.read("docker/Dockerfile.cpu")
    assert f'upstream.digest="{UPSTREAM_DIGEST}"' in project.read("docker/Dockerfile.cpu")

    again = project.run("render")
    assert again.code == 0
    assert again.out.count("unchanged") == 3


def test_render_of_one_variant_leaves_the_others_alone(tmp_path: Path):
    project = project_with_series(tmp_path)
    result = project.run("render", "--variant", "gpu")
    assert result.code == 0, result.err
    assert (project.root / "docker/Dockerfile.gpu").exists()
    assert not (project.root / "docker/Dockerfile.cpu").exists()
    assert set(json.loads(project.read("docker-bake.json"))["target"]) == {"cpu", "gpu"}
    unknown = project.run("render", "--variant", "tpu")
    assert unknown.code == 2
    assert "unknown variant 'tpu'" in unknown.err


def test_check_passes_on_fresh_output_and_catches_a_stale_file_with_a_diff(tmp_path: Path):
    project = project_with_series(tmp_path)
    assert project.run("render").code == 0
    fresh = project.run("render", "--check")
    assert fresh.code == 0, fresh.err
    assert "3 rendered files are up to date" in fresh.out

    edited = project.read("docker/Dockerfile.cpu").replace("ARG CORE_IMG=ubuntu:20.04",
                                                           "ARG CORE_IMG=ubuntu:22.04")
    project.write("docker/Dockerfile.cpu", edited)
    stale = project.run("render", "--check")
    assert stale.code == 1
    assert "-ARG CORE_IMG=ubuntu:22.04" in stale.out
    assert "+ARG CORE_IMG=ubuntu:20.04" in stale.out
    assert "docker/Dockerfile.cpu (differs)" in stale.err
    assert "python -m sync render" in stale.err
    assert project.read("docker/Dockerfile.cpu") == edited  # --check writes nothing


def test_check_catches_output_made_stale_by_a_new_version(tmp_path: Path):
    project = project_with_series(tmp_path)
    assert project.run("render").code == 0
    project.write("VERSION", "5.3.4\n")
    result = project.run("render", "--check", "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["up_to_date"] is False
    assert sorted(item["path"] for item in document["stale"]) == [
        "docker-bake.json", "docker/Dockerfile.cpu", "docker/Dockerfile.gpu"]
    assert any("+      org.opencontainers.image.version=\"5.3.4\"" in item["diff"]
               for item in document["stale"])


def test_check_reports_a_missing_file_and_an_undeclared_variant(tmp_path: Path):
    project = project_with_series(tmp_path)
    assert project.run("render").code == 0
    (project.root / "docker/Dockerfile.gpu").unlink()
    project.write("docker/Dockerfile.tpu", owned("FROM old\n"))
    project.write("docker/Dockerfile.custom", "FROM mine\n")
    result = project.run("render", "--check")
    assert result.code == 1
    assert "docker/Dockerfile.gpu (missing)" in result.err
    assert "docker/Dockerfile.tpu (orphan)" in result.err
    assert "Dockerfile.custom" not in result.err


def test_render_owns_only_what_it_rendered_and_prunes_orphans(tmp_path: Path):
    project = project_with_series(tmp_path, variants="""\
  cpu:
    base: ubuntu:20.04
    tensorflow: tensorflow-cpu==2.13.1
  tpu:
    base: ubuntu:20.04
    tensorflow: tensorflow-cpu==2.13.1
""")
    project.write("docker/Dockerfile.custom", "FROM community\n")
    project.write("docker/scripts/x.sh", "echo community\n")
    assert project.run("render").code == 0
    assert project.read("docker/Dockerfile.tpu").startswith(RENDERED_MARK)
    assert project.run("render", "--check").code == 0  # community files are none of its business
    # the variant goes away: its rendered file is an orphan, the community's files are not
    manifest = project.read("upstream-manifest.yaml")
    project.write("upstream-manifest.yaml", manifest[:manifest.index("  tpu:")])
    checked = project.run("render", "--check")
    assert checked.code == 1
    assert "docker/Dockerfile.tpu (orphan)" in checked.err
    assert "render --prune" in checked.err and "Dockerfile.custom" not in checked.err
    written = project.run("render")
    assert written.code == 0 and "render --prune" in written.err
    assert (project.root / "docker/Dockerfile.tpu").exists()
    pruned = project.run("render", "--prune")
    assert pruned.code == 0, pruned.err
    assert not (project.root / "docker/Dockerfile.tpu").exists()
    assert project.read("docker/Dockerfile.custom") == "FROM community\n"
    assert project.read("docker/scripts/x.sh") == "echo community\n"
    assert project.run("render", "--check").code == 0


def test_the_gate_refuses_a_series_that_conflicts_with_the_current_upstream(tmp_path: Path):
    project = project_with_series(tmp_path)
    # upstream changes the very line 0002 pins: the patch no longer applies, even 3-way
    project.move_upstream({"bundle/configs/environment.yml": b"tensorflow==2.14\nredis==4.5\n"})
    result = project.run("render")
    assert result.code == 1
    assert "0002-environment-pins.patch" in result.err
    assert "bundle/configs/environment.yml" in result.err
    assert "0001-agent-logging.patch" not in result.err  # it still applies: not listed
    assert "rebase-patches" in result.err
    assert not list((project.root / "docker").glob("Dockerfile.*"))  # nothing rendered
    assert not (project.root / "docker-bake.json").exists()


def test_the_gate_refuses_drift_between_the_work_tree_and_upstream_plus_series(tmp_path: Path):
    project = project_with_series(tmp_path)
    project.write("bundle/src/markov/rewards.py", "def reward(params):\n    return 2.0\n")
    project.write("bundle/src/markov/new_module.py", "print('unexplained')\n")
    result = project.run("render")
    assert result.code == 1
    assert "bundle/src/markov/rewards.py" in result.err
    assert "bundle/src/markov/new_module.py" in result.err
    assert not list((project.root / "docker").glob("Dockerfile.*"))  # nothing rendered
    check = project.run("render", "--check")
    assert check.code == 1 and "bundle/src/markov/rewards.py" in check.err


def test_the_gate_accepts_a_series_that_lands_with_an_offset(tmp_path: Path):
    project = project_with_series(tmp_path)
    # upstream inserts lines above the patched one: 0001 lands with an offset, cleanly
    agent = UPSTREAM_FILES["src/markov/agent.py"]
    moved = b"# header\n# more\n" + agent
    project.move_upstream({"bundle/src/markov/agent.py": moved})
    project.write("bundle/src/markov/agent.py",
                  moved.replace(b"line 20\n", b"line 20 with logging\n"))
    result = project.run("render")
    assert result.code == 0, result.err


def test_no_upstream_branch_is_a_clear_error(tmp_path: Path):
    project = project_with_series(tmp_path)
    project.repo.references.delete("refs/heads/upstream")
    result = project.run("render")
    assert result.code == 2
    assert "upstream" in result.err and "python -m sync pull" in result.err
    assert "Traceback" not in result.err


def test_a_template_syntax_error_names_file_and_line_and_exits_2(tmp_path: Path):
    template = "FROM {{ variant.base }}\n{% for p in variant.packages %}\nRUN {{ p }}\n"
    project = project_with_series(tmp_path, template=template)
    result = project.run("render")
    assert result.code == 2
    assert "Dockerfile.j2:3: template syntax error:" in result.err
    assert "Traceback" not in result.err
    assert not list((project.root / "docker").glob("Dockerfile.*"))  # nothing rendered


def test_an_undefined_variable_names_it_with_file_and_line_and_exits_2(tmp_path: Path):
    template = "FROM {{ variant.base }}\n\nLABEL revision={{ revison }}\n"
    project = project_with_series(tmp_path, template=template)
    result = project.run("render")
    assert result.code == 2
    assert "Dockerfile.j2:3: undefined variable 'revison'" in result.err
    assert "defined: upstream, variant, version" in result.err
    assert not list((project.root / "docker").glob("Dockerfile.*"))  # nothing rendered


def test_json_mode_prints_one_document(tmp_path: Path):
    project = project_with_series(tmp_path)
    result = project.run("render", "--json")
    assert result.code == 0
    document = json.loads(result.out)
    assert document["version"] == "5.3.3"
    assert [item["path"] for item in document["files"]] == [
        "docker/Dockerfile.cpu", "docker/Dockerfile.gpu", "docker-bake.json"]
    assert all(item["changed"] for item in document["files"])


def test_a_json_version_tags_with_simapp_and_gives_the_template_the_whole_mapping(
        tmp_path: Path):
    template = ('FROM {{ variant.base }}\n'
                'LABEL version="{{ version }}" on-aws="{{ version_info["deepracer-on-aws"] }}"\n')
    project = make_project(tmp_path, UPSTREAM_FILES, SERIES, template=template)
    project.write("VERSION", '{"simapp": "6.0.5", "deepracer-on-aws": "v1.2.4"}\n')
    result = project.run("render")
    assert result.code == 0, result.err
    assert project.read("docker/Dockerfile.cpu") == (
        f'{RENDERED_MARK}\nFROM ubuntu:20.04\nLABEL version="6.0.5" on-aws="v1.2.4"\n')
    bake = json.loads(project.read("docker-bake.json"))
    assert bake["target"]["cpu"]["tags"] == ["${PREFIX}/deepracer-simapp:6.0.5-cpu"]


def test_a_version_without_simapp_exits_2_naming_version(tmp_path: Path):
    project = project_with_series(tmp_path)
    project.write("VERSION", '{"deepracer-on-aws": "v1.2.4"}\n')
    result = project.run("render")
    assert result.code == 2
    assert "VERSION: no 'simapp' string" in result.err
    assert not list((project.root / "docker").glob("Dockerfile.*"))  # nothing rendered
