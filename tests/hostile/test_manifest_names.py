"""Class 5 and 10 of issue 11: a manifest whose target git would treat as ``.git``, whose branch
git cannot store, or whose text is hostile YAML is refused when it is loaded, naming file, key
and line, before any image is read, and ``pull`` leaves the repository as it was."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sync.cli import main
from sync.config.manifest import parse_manifest
from sync.config.reader import MAX_YAML_BYTES, MAX_YAML_DEPTH
from sync.errors import ConfigError
from tests.hostile.state import snapshot

HEAD = "image: example.local/simapp\ntag: v1\n"


def manifest(target: str = "bundle", branch: str = "upstream") -> str:
    return (f"{HEAD}branch: {branch}\npaths:\n  - source: /opt/amazon\n"
            f"    target: {target}\n")


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_manifest(text, "upstream-manifest.yaml")
    assert raised.value.exit_code == 2
    return raised.value.message


@pytest.mark.parametrize("target", [
    ".GIT/hooks", "a/.Git", "git~1", "GIT~1/x", '".git."', '".git  "', '".g\\u200cit"',
    '"x/\\ufeff.git/y"', '".git::$INDEX_ALLOCATION"',
])
def test_a_target_git_would_treat_as_dot_git_is_refused_naming_key_and_line(target: str):
    message = refusal(manifest(target))
    assert message.startswith("upstream-manifest.yaml:6: paths[0].target: ")
    assert "must not be inside .git" in message


@pytest.mark.parametrize("target", ['"a\\0b"', '"a\\nb"', '"a\\tb"', '"' + "x" * 256 + '"'])
def test_a_target_with_a_nul_a_control_character_or_an_overlong_name_is_refused(target: str):
    message = refusal(manifest(target))
    assert message.startswith("upstream-manifest.yaml:6: paths[0].target: ")
    assert "control character" in message or "too long" in message


@pytest.mark.parametrize("branch", [
    "a/.hidden", "x.lock/y", "a..b", "\"@\"", "-x", "has space", "a:b", "a~1", "a^", "a[b",
    '"a\\0b"', "a/", "refs/heads/x.lock",
])
def test_a_branch_name_git_cannot_store_is_refused(branch: str):
    message = refusal(manifest(branch=branch))
    assert message.startswith("upstream-manifest.yaml:3: branch: ")
    assert "not a valid branch name" in message


def test_python_tags_are_never_constructed():
    text = manifest().replace("tag: v1", "tag: !!python/object/apply:os.system [touch x]")
    assert "tag: must be a string" in refusal(text)


def test_deeply_nested_yaml_is_refused_quickly_without_recursion():
    started = time.monotonic()
    message = refusal(HEAD + "paths: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert f"nested more than {MAX_YAML_DEPTH} levels deep" in message
    assert time.monotonic() - started < 30


def test_an_oversized_manifest_is_refused_before_it_is_parsed():
    message = refusal(manifest() + "#" * (MAX_YAML_BYTES + 1))
    assert f"larger than {MAX_YAML_BYTES} bytes" in message


def test_pull_refuses_such_a_manifest_before_reading_any_image(
        repo_dir: Path, capsys: pytest.CaptureFixture[str]):
    (repo_dir / "upstream-manifest.yaml").write_text(manifest("git~1"))
    before = snapshot(repo_dir)
    status = main(["pull", "-C", str(repo_dir), "--from", "docker-archive:/nonexistent.tar"])
    err = capsys.readouterr().err
    assert status == 2
    assert "upstream-manifest.yaml:6: paths[0].target" in err and "Traceback" not in err
    assert "nonexistent" not in err  # refused before the source was looked at
    assert snapshot(repo_dir) == before
