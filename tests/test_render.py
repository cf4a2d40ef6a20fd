"""Rendering Dockerfile.j2: deterministic text, the image the issue describes, precise errors.

The rendered Dockerfiles of the real template are compared whole with tests/snapshots/ (set
SNAPSHOT_UPDATE=1 to rewrite them after an intended change, then review the diff), and parsed
with dockerfile-parse to check what matters structurally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from sync.config.manifest import load_manifest
from sync.config.variants import Variant
from sync.config.version import read_version
from sync.errors import RenderError
from sync.render import (
    BAKE_NAME,
    RENDERED_MARK,
    RenderedFile,
    atomic_write,
    bake_file,
    dockerfile_path,
    image_tag,
    owned,
    render_all,
    render_template,
    render_variant,
    stale_files,
    undeclared_dockerfiles,
    write_files,
)
from sync.upstream import Upstream

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
TEMPLATE = ROOT / "Dockerfile.j2"
UPSTREAM = Upstream(commit="0123456789abcdef0123456789abcdef01234567",
                    image="public.ecr.aws/k1d3r4z1/deepracer-sim-public:latest",
                    digest="sha256:5e0f" + "0" * 60, image_id="sha256:1d" + "0" * 62)


def real_variants() -> tuple[Variant, ...]:
    return load_manifest(ROOT / "upstream-manifest.yaml").variants


def real_version() -> str:
    return read_version(ROOT / "VERSION")


def rendered(name: str) -> str:
    variant = next(v for v in real_variants() if v.name == name)
    return render_variant(TEMPLATE, variant, real_version(), UPSTREAM)


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("SNAPSHOT_UPDATE") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see the docstring"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]]  # (INSTRUCTION, value) in order

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


def parse(text: str, tmp_path: Path, **build_args: str) -> tuple[DockerfileParser, list[Stage]]:
    parser = DockerfileParser(path=str(tmp_path), build_args=build_args, env_replace=True)
    parser.content = text
    stages: list[Stage] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            base, _, name = item["value"].partition(" AS ")
            stages.append(Stage(name.strip(), base.strip(), []))
        elif item["instruction"] == "ARG" and not stages:
            continue  # the global ARGs of the FROM lines
        elif item["instruction"] != "COMMENT":
            assert stages, f"{item['instruction']} before the first FROM"
            stages[-1].instructions.append((item["instruction"], item["value"]))
    return parser, stages


# --- the real template ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_the_rendered_dockerfiles_match_their_snapshots(variant: str):
    assert_snapshot(f"Dockerfile.{variant}", rendered(variant))


def test_the_bake_file_matches_its_snapshot():
    variants = real_variants()
    assert_snapshot(BAKE_NAME, bake_file(variants, real_version(), "linux/amd64"))


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_stages_bases_and_copies(variant: str, tmp_path: Path):
    declared = next(v for v in real_variants() if v.name == variant)
    parser, stages = parse(rendered(variant), tmp_path)
    assert [(stage.name, stage.base) for stage in stages] == [
        ("bundle", "${ROS_IMG}"), ("redis", "${CORE_IMG}"), ("simapp", "${CORE_IMG}")]
    assert f"ARG CORE_IMG={declared.base}" in rendered(variant)
    bundle, redis, simapp = stages
    # only the bundle stage builds the sources; the final stage takes its install tree only
    assert bundle.values("COPY") == ["bundle/ /opt/bundle/"]
    assert any("colcon build" in run for run in bundle.values("RUN"))
    assert [copy for copy in simapp.values("COPY") if copy.startswith("--from=")] == [
        "--from=redis /usr/local/bin/ /usr/local/bin/",
        "--from=bundle /opt/bundle/install/ /opt/simapp/"]
    assert redis.values("COPY") == []
    assert parser.baseimage == declared.base  # the global ARG resolved


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_the_oci_labels_come_from_version_the_revision_and_the_upstream_branch(
        variant: str, tmp_path: Path):
    parser, stages = parse(rendered(variant), tmp_path, REVISION="f00dfeed")
    labels = parser.labels
    assert labels["org.opencontainers.image.version"] == real_version()
    assert labels["org.opencontainers.image.revision"] == "f00dfeed"
    assert labels["org.opencontainers.image.source"].startswith("https://github.com/")
    assert labels["io.github.aws-deepracer-community.upstream.digest"] == UPSTREAM.digest
    assert labels["io.github.aws-deepracer-community.upstream.image"] == UPSTREAM.image
    assert labels["io.github.aws-deepracer-community.upstream.commit"] == UPSTREAM.commit
    assert labels["io.github.aws-deepracer-community.upstream.image-id"] == UPSTREAM.image_id
    # labels change with every release: they are the very last layer, after REVISION's ARG
    assert [name for name, _ in stages[-1].instructions[-2:]] == ["ARG", "LABEL"]
    assert stages[-1].instructions[-2][1] == "REVISION="


def test_the_software_the_issue_asks_for(tmp_path: Path):
    for variant in real_variants():
        _, (bundle, redis, simapp) = parse(rendered(variant.name), tmp_path)
        simapp_runs = " ".join(simapp.values("RUN"))
        for package in ("python3", "python3-pip", "ros-noetic-ros-base", "gazebo11", "xvfb"):
            assert f" {package} " in simapp_runs, (variant.name, package)
        assert "packages.osrfoundation.org/gazebo/ubuntu-stable focal" in simapp_runs
        assert "packages.ros.org/ros/ubuntu focal" in simapp_runs
        redis_runs = " ".join(redis.values("RUN"))
        assert "REDIS_VERSION=6.2.7" in redis.values("ARG")
        assert "redis-${REDIS_VERSION}.tar.gz" in redis_runs
        assert "sha256sum --check" in redis_runs
        assert f'"{variant.tensorflow}"' in simapp_runs
        assert "python3-colcon-common-extensions" in " ".join(bundle.values("RUN"))


def test_only_the_gpu_variant_gets_cuda_nvcc_but_both_get_the_nvidia_environment(
        tmp_path: Path):
    cpu_text, gpu_text = rendered("cpu"), rendered("gpu")
    assert "cuda-nvcc-11-8" in gpu_text and "cuda-nvcc" not in cpu_text
    for text in (cpu_text, gpu_text):
        _, stages = parse(text, tmp_path)
        assert any("NVIDIA_DRIVER_CAPABILITIES=all" in env for env in stages[-1].values("ENV"))
        assert any("10_nvidia.json" in copy for copy in stages[-1].values("COPY"))
    assert '"tensorflow-cpu==2.13.1"' in cpu_text and '"tensorflow==2.13.1"' in gpu_text


def test_an_image_read_from_an_archive_has_no_digest_label(tmp_path: Path):
    cpu = real_variants()[0]
    text = render_variant(TEMPLATE, cpu, "5.3.3", Upstream("c" * 40, "x:v1", None, "sha256:1d"))
    parser, _ = parse(text, tmp_path)
    assert "io.github.aws-deepracer-community.upstream.digest" not in parser.labels
    assert parser.labels["io.github.aws-deepracer-community.upstream.image-id"] == "sha256:1d"


def test_rendering_is_deterministic_across_processes(tmp_path: Path):
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.test_render import rendered\n"
        "sys.stdout.write(rendered('gpu'))\n"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                                capture_output=True, text=True)
        outputs.add(result.stdout)
    assert outputs == {rendered("gpu")}


# --- inputs and outputs --------------------------------------------------------------------------


def test_the_bake_file_has_one_target_per_variant_with_its_tag():
    variants = (Variant("cpu", "ubuntu:20.04", "tf==1"), Variant("gpu", "cuda", "tf==1"))
    document = json.loads(bake_file(variants, "5.3.3", "linux/amd64"))
    assert document["group"]["default"]["targets"] == ["cpu", "gpu"]
    assert document["variable"]["PREFIX"]["default"] == "awsdeepracercommunity"
    for name in ("cpu", "gpu"):
        target = document["target"][name]
        assert target["dockerfile"] == dockerfile_path(name) == f"docker/Dockerfile.{name}"
        assert target["context"] == "."
        assert target["tags"] == [f"${{PREFIX}}/deepracer-simapp:5.3.3-{name}"]
        assert target["platforms"] == ["linux/amd64"]
        assert target["args"] == {"REVISION": "${REVISION}"}
    assert image_tag("localhost:5000/me/", "5.3.3", "gpu") == \
        "localhost:5000/me/deepracer-simapp:5.3.3-gpu"


def test_render_all_writes_the_selected_variants_and_a_bake_file_of_all(tmp_path: Path):
    cpu, gpu = real_variants()
    files = render_all(TEMPLATE, (gpu,), (cpu, gpu), "5.3.3", UPSTREAM, "linux/amd64")
    assert [file.path for file in files] == ["docker/Dockerfile.gpu", BAKE_NAME]
    assert set(json.loads(files[1].text)["target"]) == {"cpu", "gpu"}


def test_writes_are_atomic_and_unchanged_files_are_left_alone(tmp_path: Path):
    files = [RenderedFile("docker/Dockerfile.cpu", "FROM a\n"), RenderedFile(BAKE_NAME, "{}\n")]
    assert write_files(tmp_path, files) == [("docker/Dockerfile.cpu", True), (BAKE_NAME, True)]
    stamp = (tmp_path / "docker/Dockerfile.cpu").stat().st_mtime_ns
    assert write_files(tmp_path, files) == [("docker/Dockerfile.cpu", False), (BAKE_NAME, False)]
    assert (tmp_path / "docker/Dockerfile.cpu").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (tmp_path / "docker").iterdir()) == ["Dockerfile.cpu"]
    assert oct((tmp_path / BAKE_NAME).stat().st_mode & 0o777) == "0o644"


def test_a_write_never_follows_a_symlink(tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker/Dockerfile.cpu").symlink_to(outside)
    with pytest.raises(RenderError, match="symbolic link"):
        atomic_write(tmp_path / "docker/Dockerfile.cpu", b"FROM evil\n")
    assert outside.read_text() == "precious\n"


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "Dockerfile.cpu"
    target.write_text("old\n")

    def broken_replace(source: object, destination: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile.cpu"]


def test_stale_files_come_with_a_unified_diff(tmp_path: Path):
    files = [RenderedFile("docker/Dockerfile.cpu", "FROM a\nRUN new\n"),
             RenderedFile(BAKE_NAME, "{}\n")]
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker/Dockerfile.cpu").write_text("FROM a\nRUN old\n")
    stale = stale_files(tmp_path, files)
    assert [(item.path, item.reason) for item in stale] == [
        ("docker/Dockerfile.cpu", "differs"), (BAKE_NAME, "missing")]
    assert stale[0].diff.splitlines() == [
        "--- a/docker/Dockerfile.cpu", "+++ b/docker/Dockerfile.cpu", "@@ -1,2 +1,2 @@",
        " FROM a", "-RUN old", "+RUN new"]
    assert stale[1].diff.startswith("--- /dev/null\n+++ b/docker-bake.json\n")
    write_files(tmp_path, files)
    assert stale_files(tmp_path, files) == []


def test_only_rendered_dockerfiles_of_variants_no_longer_declared_are_orphans(tmp_path: Path):
    (tmp_path / "docker").mkdir()
    for name in ("Dockerfile.cpu", "Dockerfile.tpu", "README"):
        (tmp_path / "docker" / name).write_text(owned("FROM x\n"))
    (tmp_path / "docker/Dockerfile.custom").write_text("FROM community\n")  # not rendered
    found = undeclared_dockerfiles(tmp_path, [Variant("cpu", "a", "t")])
    assert [(item.path, item.reason) for item in found] == [("docker/Dockerfile.tpu", "orphan")]


def test_the_rendered_mark_goes_after_parser_directives():
    assert owned("FROM a\n") == f"{RENDERED_MARK}\nFROM a\n"
    assert owned("# syntax=docker/dockerfile:1\nFROM a\n") == (
        f"# syntax=docker/dockerfile:1\n{RENDERED_MARK}\nFROM a\n")


# --- template errors -----------------------------------------------------------------------------


def render_text(tmp_path: Path, text: str, **context: object) -> str:
    template = tmp_path / "Dockerfile.j2"
    template.write_text(text)
    values = {"variant": Variant("cpu", "ubuntu:20.04", "tf==1"), "version": "1.0",
              "upstream": UPSTREAM, **context}
    return render_template(template, values)


def render_error(tmp_path: Path, text: str) -> RenderError:
    with pytest.raises(RenderError) as raised:
        render_text(tmp_path, text)
    assert raised.value.exit_code == 2
    return raised.value


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # messages show paths relative to the current directory
    return tmp_path


def test_a_syntax_error_names_the_template_and_line(in_tmp: Path):
    error = render_error(in_tmp, "FROM x\nRUN a\n{% if variant.nvidia %}\nRUN b\n")
    assert error.message.startswith("Dockerfile.j2:4: template syntax error: ")
    error = render_error(in_tmp, "FROM x\n\n\nRUN {{ variant.name ]] }}\n")
    assert error.message.startswith("Dockerfile.j2:4: template syntax error: ")


def test_an_undefined_variable_is_named_with_its_line(in_tmp: Path):
    error = render_error(in_tmp, "FROM {{ variant.base }}\n\nLABEL x={{ revison }}\n")
    assert error.message == "Dockerfile.j2:3: undefined variable 'revison'"
    assert error.hint == "defined: upstream, variant, version"


def test_an_undefined_attribute_is_named_with_its_owner(in_tmp: Path):
    text = "FROM {{ variant.base }}\n{% for p in variant.packages %}\n{% endfor %}\n" \
           "{% if variant.cuda %}\nRUN x\n{% endif %}\n"
    error = render_error(in_tmp, text)
    assert error.message == "Dockerfile.j2:4: undefined variable 'variant.cuda'"


def test_undefined_inside_a_loop_and_a_filter_still_names_the_line(in_tmp: Path):
    text = "FROM a\n{% for name in ['x', 'y'] %}\nRUN {{ name ~ suffix }}\n{% endfor %}\n"
    assert render_error(in_tmp, text).message == "Dockerfile.j2:3: undefined variable 'suffix'"
    text = "FROM a\n\nRUN {{ variant.packages | join(missing) }}\n"
    assert render_error(in_tmp, text).message == "Dockerfile.j2:3: undefined variable 'missing'"


def test_other_runtime_errors_name_the_line_too(in_tmp: Path):
    error = render_error(in_tmp, "FROM a\nRUN {{ version + 1 }}\n")
    assert error.message.startswith("Dockerfile.j2:2: TypeError: ")


def test_a_missing_template_is_a_render_error(in_tmp: Path):
    with pytest.raises(RenderError, match="Dockerfile.j2: template not found"):
        render_template(in_tmp / "Dockerfile.j2", {})


def test_the_output_always_ends_with_one_newline(in_tmp: Path):
    assert render_text(in_tmp, "FROM {{ variant.base }}") == "FROM ubuntu:20.04\n"
