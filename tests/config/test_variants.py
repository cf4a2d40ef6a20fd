"""The `variants:` section: every variant-specific value in one place, checked with key and line."""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.cli import main
from sync.config.manifest import Manifest, load_manifest, parse_manifest
from sync.config.variants import APT_PATTERN, PIP_PATTERN, Variant
from sync.errors import ConfigError
from sync.git import repo as gitrepo

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
image: public.ecr.aws/k1d3r4z1/deepracer-sim-public
paths:
  - source: /opt/amazon
    target: bundle
"""


def manifest_of(section: str) -> Manifest:
    return parse_manifest(HEAD + section, "upstream-manifest.yaml")


def variants_of(section: str) -> tuple[Variant, ...]:
    return manifest_of(section).variants


def error_of(section: str) -> str:
    with pytest.raises(ConfigError) as raised:
        variants_of(section)
    assert raised.value.exit_code == 2
    return raised.value.message


def test_the_repository_declares_cpu_and_gpu_as_the_issue_describes():
    manifest = load_manifest(ROOT / "upstream-manifest.yaml")
    cpu, gpu = manifest.variants
    # both variants set the NVIDIA runtime environment, as 5.3.3 does (facts section 6)
    assert cpu == Variant(name="cpu", base="ubuntu:20.04", tensorflow="tensorflow-cpu==2.13.1",
                          nvidia=True)
    assert gpu.name == "gpu"
    assert gpu.base == "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04"
    assert gpu.packages == ("cuda-nvcc-11-8",)
    assert gpu.tensorflow == "tensorflow==2.13.1"
    assert gpu.nvidia is True
    with pytest.raises(AttributeError):
        gpu.base = "other"  # type: ignore[misc]


def test_every_key_is_read_in_declaration_order():
    (variant,) = variants_of("""\
variants:
  gpu-big:
    base: nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04
    tensorflow: tensorflow[and-cuda]==2.13.1
    packages: [cuda-nvcc-11-8, "libfoo1=1.2.3-0ubuntu1"]
    python_packages: ["boto3>=1.28,<2", numpy==1.24.3]
    nvidia: yes
    env:
      ZED: last
      ALPHA: "first, with a comma"
""")
    assert variant == Variant(
        name="gpu-big", base="nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04",
        tensorflow="tensorflow[and-cuda]==2.13.1",
        packages=("cuda-nvcc-11-8", "libfoo1=1.2.3-0ubuntu1"),
        python_packages=("boto3>=1.28,<2", "numpy==1.24.3"), nvidia=True,
        env=(("ZED", "last"), ("ALPHA", "first, with a comma")))


def test_a_manifest_read_from_text_alone_still_gives_its_variants():
    manifest = parse_manifest(HEAD + "variants:\n  cpu:\n    base: ubuntu:20.04\n"
                              "    tensorflow: tensorflow-cpu==2.13.1\n", "m.yaml")
    assert [variant.name for variant in manifest.variants] == ["cpu"]


def test_a_mistyped_variants_key_stops_loading_the_manifest_for_every_command(tmp_path: Path):
    path = tmp_path / "upstream-manifest.yaml"
    path.write_text(HEAD + "variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n"
                    "    packges: [curl]\n")
    with pytest.raises(ConfigError) as raised:
        load_manifest(path)  # what pull, check and rebase-patches do, before any rendering
    assert raised.value.exit_code == 2
    assert raised.value.message.startswith(f"{path}:9: variants.cpu.packges: unknown key")


@pytest.mark.parametrize("command", ["pull", "check", "render"])
def test_every_command_refuses_a_mistyped_variants_key_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str):
    gitrepo.init_repository(tmp_path)
    (tmp_path / "upstream-manifest.yaml").write_text(
        HEAD + "variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n"
        "    nvidea: true\n")
    assert main([command, "-C", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "upstream-manifest.yaml:9: variants.cpu.nvidea: unknown key" in err
    assert "Traceback" not in err


def test_variants_are_hashable():
    declared = load_manifest(ROOT / "upstream-manifest.yaml").variants
    assert len({*declared, *declared}) == len(declared) == 2


@pytest.mark.parametrize(("section", "expected"), [
    ("variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n    bse: x\n",
     "upstream-manifest.yaml:9: variants.cpu.bse: unknown key"),
    ("variants:\n  cpu:\n    base: ubuntu:20.04\n",
     "variants.cpu.tensorflow: required key is missing"),
    ("variants:\n  cpu:\n    base: 20.04\n    tensorflow: tf==1\n",
     "upstream-manifest.yaml:7: variants.cpu.base: must be a string"),
    ("variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n    packages: curl\n",
     "upstream-manifest.yaml:9: variants.cpu.packages: must be a list of strings"),
    ("variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n    nvidia: 'yes'\n",
     "upstream-manifest.yaml:9: variants.cpu.nvidia: must be true or false"),
    ("variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n    env: [A]\n",
     "upstream-manifest.yaml:9: variants.cpu.env: must map variable names"),
    ("variants:\n  cpu: ubuntu\n", "upstream-manifest.yaml:6: variants.cpu: must be a mapping"),
    ("variants: [cpu, gpu]\n", "upstream-manifest.yaml:5: variants: must map each variant"),
    ("variants:\n  CPU!:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n",
     "upstream-manifest.yaml:6: variants.CPU!: a variant name is lower-case"),
])
def test_unknown_keys_and_wrong_types_name_the_key_and_line(section: str, expected: str):
    assert expected in error_of(section)


@pytest.mark.parametrize(("key", "value", "line"), [
    ("packages", '["curl; rm -rf /"]', 9),
    ("packages", '["$(reboot)"]', 9),
    ("python_packages", '["numpy==1.24 && curl evil"]', 9),
    ("python_packages", '["x\\"y"]', 9),
])
def test_values_that_would_break_out_of_a_shell_command_are_refused(key: str, value: str,
                                                                    line: int):
    message = error_of(f"variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n"
                       f"    {key}: {value}\n")
    assert message.startswith(f"upstream-manifest.yaml:{line}: variants.cpu.{key}[0]: ")


def test_a_trailing_newline_cannot_sneak_in_through_a_block_scalar():
    message = error_of("variants:\n  cpu:\n    base: |\n      ubuntu:20.04\n"
                       "    tensorflow: tf==1\n")
    assert message.startswith("upstream-manifest.yaml:7: variants.cpu.base: ")


def test_an_env_value_cannot_reach_the_shell_or_end_the_quotes():
    message = error_of("variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tf==1\n"
                       "    env:\n      A: ok\n      B: \"$HOME\"\n")
    assert message.startswith("upstream-manifest.yaml:11: variants.cpu.env.B: must not contain")


def test_a_tensorflow_requirement_and_a_base_image_are_checked_too():
    assert "variants.cpu.tensorflow: 'tensorflow 2.13' is not a pip requirement" in error_of(
        "variants:\n  cpu:\n    base: ubuntu:20.04\n    tensorflow: tensorflow 2.13\n")
    assert "variants.cpu.base: 'ubuntu:20.04 AS evil' is not an image reference" in error_of(
        "variants:\n  cpu:\n    base: ubuntu:20.04 AS evil\n    tensorflow: tf==1\n")


def test_duplicate_variants_and_a_missing_section_are_errors():
    assert "duplicate" in error_of("variants:\n  cpu:\n    base: a\n    tensorflow: t\n"
                                   "  cpu:\n    base: b\n    tensorflow: t\n")
    manifest = parse_manifest(HEAD, "upstream-manifest.yaml")
    assert manifest.variants == ()  # pull needs none
    with pytest.raises(ConfigError, match="upstream-manifest.yaml: variants: no variants declared"):
        manifest.declared_variants  # noqa: B018 - render and build do


def test_selecting_variants_keeps_declaration_order_and_names_unknown_ones():
    variants = (Variant("cpu", "a", "t"), Variant("gpu", "b", "t"))
    manifest = replace(parse_manifest(HEAD, "upstream-manifest.yaml"), variants=variants)
    assert manifest.select_variants(None) == variants
    assert manifest.select_variants(["gpu", "cpu", "gpu"]) == variants
    assert manifest.select_variants(["gpu"]) == variants[1:]
    with pytest.raises(ConfigError) as raised:
        manifest.select_variants(["tpu"])
    assert "unknown variant 'tpu'" in raised.value.message
    assert raised.value.hint is not None and "cpu, gpu" in raised.value.hint


SHELL_SAFE_IN_DOUBLE_QUOTES = re.compile(r'^[^"$`\\\s;&|()]*$')


@given(st.text(max_size=40))
def test_an_accepted_pip_requirement_is_inert_inside_double_quotes(text: str):
    if PIP_PATTERN.fullmatch(text):
        assert SHELL_SAFE_IN_DOUBLE_QUOTES.fullmatch(text)


@given(st.text(max_size=40))
def test_an_accepted_apt_package_is_a_single_plain_shell_word(text: str):
    if APT_PATTERN.fullmatch(text):
        assert shlex.split(text) == [text]
        assert not set(text) & set("$`\\\"';&|()<>*?[]{} \t\n")


def test_a_variant_may_declare_its_platforms_default_the_manifests():
    multi, plain = variants_of("""\
variants:
  cpu:
    base: ubuntu:20.04
    tensorflow: tensorflow-cpu==2.13.1
    platforms: [linux/amd64, linux/arm64]
  gpu:
    base: ubuntu:20.04
    tensorflow: tensorflow==2.13.1
""")
    assert multi.platforms_or("linux/amd64") == ("linux/amd64", "linux/arm64")
    assert plain.platforms == () and plain.platforms_or("linux/amd64") == ("linux/amd64",)
    message = error_of("""\
variants:
  cpu:
    base: ubuntu:20.04
    tensorflow: tensorflow-cpu==2.13.1
    platforms: [windows/amd64]
""")
    assert "variants.cpu.platforms[0]" in message and "'windows/amd64'" in message
