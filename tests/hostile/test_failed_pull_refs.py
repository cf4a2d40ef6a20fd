"""Classes 1 and 12 of issue 11: a layer whose bytes do not match its digest is never committed,
and a refused pull moves no ref: the layer cache (refs/simapp-sync/layers/) is written together
with the branch, so the layers it finished before the refusal leave no trace."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from sync.cli import main
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import write_docker_archive, write_oci_archive
from tests.hostile.state import snapshot


def tamper_last_layer(archive: Path, digest: str) -> None:
    """Flip one byte in the middle of the blob ``digest`` inside the tar ``archive``."""
    with tarfile.open(archive) as tar:
        member = next(info for info in tar if info.isfile() and (
            info.name.endswith(digest[7:]) or info.name.endswith(f"{digest[7:]}/layer.tar")))
    with archive.open("r+b") as file:
        file.seek(member.offset_data + member.size // 2)
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("make", [write_docker_archive, write_oci_archive])
def test_a_tampered_layer_is_refused_and_moves_no_ref_not_even_the_layer_cache(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make):
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    kind = "docker-archive" if make is write_docker_archive else "oci-archive"
    make(tmp_path / "v1.tar", sample_image(1))
    assert main(["pull", "-q", "-C", str(repo_dir), "--from", f"{kind}:{tmp_path / 'v1.tar'}"]) == 0
    before = snapshot(repo_dir)
    built = make(tmp_path / "v2.tar", sample_image(2))[0]
    assert len(built.layers) >= 2  # the earlier layers are read and finished before the refusal
    tamper_last_layer(tmp_path / "v2.tar", built.layers[-1].digest)
    capsys.readouterr()
    status = main(["pull", "-C", str(repo_dir), "--from", f"{kind}:{tmp_path / 'v2.tar'}"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and ("digest" in err or "corrupt" in err or "gzip" in err)
    assert snapshot(repo_dir) == before


@pytest.mark.docker
def test_a_registry_layer_tampered_in_storage_leaves_no_cache_ref_for_the_layers_before_it(
        images, registry, repo_dir: Path, capsys: pytest.CaptureFixture[str]):
    """The registry serves altered bytes for the third layer: the two layers before it were read
    and verified, but their cache states are not kept, since the pull was refused."""
    from tests.commands.test_pull_registry import BASE, TOP, UPPER, layer_digests, write_manifest
    pushed = images.push("tampered", [BASE, UPPER, TOP], tag="v1")
    write_manifest(repo_dir, pushed)
    blob = registry.blob_path(layer_digests(registry, pushed)[2])
    original = blob.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    before = snapshot(repo_dir)
    try:
        status = main(["pull", "-C", str(repo_dir), "--from", "docker://"])
    finally:  # the registry is shared: later pushes of the same layer would reuse this blob
        blob.write_bytes(original)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    assert snapshot(repo_dir) == before  # no branch, and no refs/simapp-sync/layers/ either
