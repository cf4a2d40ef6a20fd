"""Patch size limits: `patches new --max-patch-size` splits, isolates, refuses; binary data once."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.commands.projects import SERIES, UPSTREAM_FILES, Project, make_project


@pytest.fixture
def simapp(tmp_path: Path) -> Project:
    return make_project(tmp_path, UPSTREAM_FILES, SERIES)


def noise(size: int, seed: int) -> bytes:
    """Incompressible bytes: a binary file as large in a patch as on disk."""
    return random.Random(seed).randbytes(size)


def git_apply_check(simapp: Project, names: list[str]) -> None:
    """Real git applies the written patches, in order, to the upstream branch's files."""
    scratch = simapp.root.parent / "apply"
    subprocess.run(["git", "clone", "-q", "-b", "upstream", str(simapp.root), str(scratch)],
                   check=True)
    for name in ["0001-agent-logging.patch", "0002-environment-pins.patch", *names]:
        if (simapp.root / "patches" / name).exists():
            subprocess.run(["git", "-C", str(scratch), "apply", "--index",
                            str(simapp.root / "patches" / name)], check=True)
    for path in ("bundle/meshes/a.bin", "bundle/meshes/b.bin", "bundle/meshes/c.bin"):
        if (simapp.root / path).exists():
            assert (scratch / path).read_bytes() == (simapp.root / path).read_bytes()


def test_edits_over_the_limit_are_split_across_numbered_patches(simapp: Project):
    for index, name in enumerate(("a", "b", "c")):
        simapp.write(f"bundle/meshes/{name}.bin", noise(40_000, index))
    result = simapp.run("patches", "new", "0003-meshes.patch", "--max-patch-size", "64K",
                        "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    names = [item["name"] for item in document["patches"]]
    assert names == ["0003-meshes-1.patch", "0003-meshes-2.patch", "0003-meshes-3.patch"]
    assert simapp.read("patches/series").splitlines()[-3:] == names
    first = simapp.read("patches/0003-meshes-1.patch")
    assert "Subject: [PATCH] Meshes (part 1 of 3)\n" in first
    assert "Split in 3 patches to stay under the patch size limit" in first
    for name in names:
        assert (simapp.root / "patches" / name).stat().st_size < 64 * 1024
    assert simapp.run("check").code == 0
    git_apply_check(simapp, names)


def test_a_file_over_the_limit_gets_its_own_patch_with_a_warning(simapp: Project):
    simapp.write("bundle/meshes/a.bin", noise(10_000, 1))
    simapp.write("bundle/meshes/b.bin", noise(200_000, 2))
    simapp.write("bundle/meshes/c.bin", noise(10_000, 3))
    result = simapp.run("patches", "new", "0003-meshes.patch", "--max-patch-size", "100K")
    assert result.code == 0, result.err
    assert simapp.read("patches/series").splitlines()[-3:] == [
        "0003-meshes-1.patch", "0003-meshes-2.patch", "0003-meshes-3.patch"]
    assert "bundle/meshes/b.bin" in simapp.read("patches/0003-meshes-2.patch")
    assert "bundle/meshes/a.bin" not in simapp.read("patches/0003-meshes-2.patch")
    assert "bundle/meshes/b.bin: 0.2 MiB, over the patch size limit" in result.err
    assert simapp.run("check").code == 0


def test_a_file_over_100_mib_is_refused_with_advice_and_nothing_is_written(simapp: Project):
    series = simapp.read("patches/series")
    with open(simapp.root / "bundle/huge.bin", "wb") as stream:
        stream.truncate(100 * 1024 * 1024 + 1)
    result = simapp.run("patches", "new", "0003-huge.patch")
    assert result.code == 2
    assert "bundle/huge.bin: 100.0 MiB, over the 100 MiB GitHub accepts" in result.err
    assert "exclude it in upstream-manifest.yaml" in result.err and "Git LFS" in result.err
    assert simapp.read("patches/series") == series
    assert not list((simapp.root / "patches").glob("0003-*"))


def test_binary_data_is_written_once_and_as_a_delta_when_smaller(simapp: Project):
    old = noise(300_000, 7)
    simapp.write("bundle/meshes/a.bin", old)
    assert simapp.run("patches", "new", "0003-mesh.patch").code == 0
    added = (simapp.root / "patches/0003-mesh.patch").read_bytes()
    assert added.count(b"\nliteral ") == 1 and b"\ndelta " not in added  # no reverse hunk
    simapp.git("add", "-A")
    simapp.git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "mesh")
    simapp.write("bundle/meshes/a.bin", old[:150_000] + b"tweak" + old[150_000:])
    assert simapp.run("patches", "new", "0004-tweak.patch").code == 0
    tweak = (simapp.root / "patches/0004-tweak.patch").read_bytes()
    assert tweak.count(b"\ndelta ") == 1 and b"\nliteral " not in tweak
    assert len(tweak) < 2_000  # a delta, not 300 kB again
    assert simapp.run("check").code == 0
    git_apply_check(simapp, ["0003-mesh.patch", "0004-tweak.patch"])
    assert os.path.getsize(simapp.root / "patches/0003-mesh.patch") < 300_000 * 1.3


def test_a_binary_over_the_binary_patch_limit_is_refused_as_every_reader_would(
        simapp: Project, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIMAPP_SYNC_MAX_BINARY_SIZE", "1M")
    series = simapp.read("patches/series")
    simapp.write("bundle/meshes/big.bin", noise(2 * 1024 * 1024, 3))
    result = simapp.run("patches", "new", "0003-big.patch")
    assert result.code == 2
    err = " ".join(result.err.split())
    assert "bundle/meshes/big.bin: binary content of 2,097,152 bytes is over the binary patch " \
           "limit (1 MiB; raise it with SIMAPP_SYNC_MAX_BINARY_SIZE" in err
    assert "nothing was written" in err and simapp.read("patches/series") == series
    assert not list((simapp.root / "patches").glob("0003-*"))
    simapp.write("bundle/meshes/big.bin", b"a text line\n" * 200_000)  # text: no such limit
    assert simapp.run("patches", "new", "0003-big.patch").code == 0
    assert simapp.run("check").code == 0
