"""Class 10 of issue 11, names: a member name holding a NUL byte, a kept name with a component
over 255 bytes or a repository path over 4096 bytes, and a kept symlink whose text has a NUL are
refused at pull (exit 2, naming the layer and the entry, escaped), not discovered at checkout;
the image archives around the layers (docker-archive, oci-archive) refuse NUL names too."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pygit2
import pytest

from sync.cli import main
from sync.sample import sample_image
from tests.builders.images import write_docker_archive, write_oci_archive
from tests.builders.tars import END, compressed_layer, header, pax, write_layout
from tests.hostile.pulling import prepared
from tests.hostile.state import snapshot


def member(name: bytes, kind: bytes = b"0", data: bytes = b"", link: bytes = b"") -> bytes:
    """One member, its name and link text in a PAX header (where any byte can go)."""
    records = [("path", name)] + ([("linkpath", link)] if link else [])
    return pax(records) + header(b"placeholder", kind, len(data), link=b"x" if link else b"") + (
        data + bytes(-len(data) % 512))


def refused(repo_dir: Path, source: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Pull ``source``; assert exit 2, no traceback and nothing changed; return the message."""
    before = snapshot(repo_dir)
    capsys.readouterr()
    status = main(["pull", "-C", str(repo_dir), "--from", source])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    assert snapshot(repo_dir) == before
    return " ".join(err.split())


def layout(tmp_path: Path, *members: bytes) -> str:
    write_layout(tmp_path / "names", [compressed_layer([*members, END])])
    return f"oci:{tmp_path / 'names'}"


LONG = "é" * 128  # 256 bytes in UTF-8, 128 characters


@pytest.mark.parametrize("name, shown", [
    (b"opt/amazon/a\0b.py", r"'opt/amazon/a\x00b.py': NUL byte in the name"),
    (b"opt/elsewhere/a\0b.py", r"'opt/elsewhere/a\x00b.py': NUL byte in the name"),
    (f"opt/amazon/{LONG}.py".encode(), f"'opt/amazon/{LONG}.py': a name over 255 bytes"),
    (f"opt/amazon/{LONG}/x.py".encode(), f"'opt/amazon/{LONG}/x.py': a name over 255 bytes"),
    (b"opt/amazon/" + b"/".join([b"d" * 200] * 21) + b"/x.py",
     "its repository path is over 4096 bytes"),
])
def test_a_name_no_checkout_could_create_is_refused_at_pull(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: bytes,
        shown: str):
    source = layout(tmp_path, member(name, data=b"print()\n"))
    message = refused(prepared(repo_dir, tmp_path), source, capsys)
    assert "layer 1/1 sha256:" in message and shown in message


@pytest.mark.parametrize("kind, link, shown", [
    (b"2", b"target\0.py", r"'opt/amazon/link.py': NUL byte in its link text 'target\x00.py'"),
    (b"2", b"t/" * 2048, "its link text is over 4095 bytes"),
    (b"1", b"opt/amazon/a\0.py", r"'opt/amazon/a\x00.py': NUL byte in the name"),
])
def test_a_kept_link_whose_text_has_a_nul_or_is_too_long_is_refused(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: bytes,
        link: bytes, shown: str):
    source = layout(tmp_path, member(b"opt/amazon/link.py", kind, link=link))
    assert shown in refused(prepared(repo_dir, tmp_path), source, capsys)


def test_names_at_the_limits_are_kept(repo_dir: Path, tmp_path: Path):
    name = "é" * 127 + "x"  # 255 bytes
    deep = "/".join(["d" * 250] * 15)  # 3779 bytes under bundle/
    source = layout(tmp_path, member(f"opt/amazon/{name}".encode(), data=b"a"),
                    member(f"opt/amazon/{deep}/f".encode(), data=b"b"),
                    member(b"opt/amazon/link", b"2", link=b"x" * 4095))
    assert main(["pull", "-q", "-C", str(prepared(repo_dir, tmp_path)), "--from", source]) == 0
    tree = pygit2.Repository(str(repo_dir)).revparse_single("upstream").peel(pygit2.Tree)

    def data(path: str) -> bytes:
        found = tree[path]
        assert isinstance(found, pygit2.Blob)
        return found.data
    assert data(f"bundle/{name}") == b"a"
    assert data(f"bundle/{deep}/f") == b"b"


def with_member_in_front(archive: Path, extra: bytes) -> None:
    """Put ``extra`` (whole tar blocks) in front of the members of the tar ``archive``."""
    archive.write_bytes(extra + archive.read_bytes())


@pytest.mark.parametrize("make, transport", [(write_oci_archive, "oci-archive"),
                                             (write_docker_archive, "docker-archive")])
def test_an_image_archive_member_named_with_a_nul_is_refused(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make, transport):
    make(tmp_path / "image.tar", sample_image(1))
    with_member_in_front(tmp_path / "image.tar", member(b"blobs/sha256/a\0b", data=b"{}"))
    message = refused(prepared(repo_dir, tmp_path), f"{transport}:{tmp_path / 'image.tar'}",
                      capsys)
    assert r"image.tar: member 'blobs/sha256/a\x00b' is named with a NUL byte" in message


def test_a_docker_archive_naming_a_layer_with_a_nul_is_refused(
        repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_docker_archive(tmp_path / "image.tar", sample_image(1))
    rewritten = io.BytesIO()
    with tarfile.open(tmp_path / "image.tar") as source, \
            tarfile.open(fileobj=rewritten, mode="w", format=tarfile.PAX_FORMAT) as target:
        for info in source:
            data = source.extractfile(info).read() if info.isfile() else b""  # type: ignore[union-attr]
            if info.name == "manifest.json":
                entries = json.loads(data)
                entries[0]["Layers"][0] = "layer\0.tar"
                data = json.dumps(entries).encode()
                info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    (tmp_path / "image.tar").write_bytes(rewritten.getvalue())
    message = refused(prepared(repo_dir, tmp_path), f"docker-archive:{tmp_path / 'image.tar'}",
                      capsys)
    assert r"'layer\x00.tar'" in message
