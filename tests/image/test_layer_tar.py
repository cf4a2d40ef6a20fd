"""A layer's tar stream: members read as tarfile reads them, once, in constant memory."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from sync.errors import ImageError, UnsafeArchiveError
from sync.image.layer_tar import TarMembers, _LeanTarInfo, tar_errors
from tests.builders.images import File, layer_tar


def stock_members(blob: bytes) -> list[tuple[object, ...]]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:", encoding="utf-8",
                      errors="surrogateescape") as tar:
        return [describe(info, tar.extractfile(info) if info.isreg() else None) for info in tar]


def lean_members(blob: bytes) -> list[tuple[object, ...]]:
    members = TarMembers(io.BytesIO(blob), "layer")  # type: ignore[arg-type]
    return [describe(info, members.content(info) if info.isreg() else None) for info in members]


def describe(info: tarfile.TarInfo, content: object) -> tuple[object, ...]:
    # in chunks: a sparse file's content hands out at most one chunk per read
    data = b"".join(iter(lambda: content.read(1 << 20), b"")  # type: ignore[attr-defined]
                    ) if content is not None else None
    return (info.name, info.type, info.size, info.mode, info.linkname, info.offset_data, data)


LONG = "opt/amazon/" + "/".join(["a-rather-long-directory-name"] * 8) + "/file.py"


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_member_headers_read_as_tarfile_reads_them(fmt: int) -> None:
    names = ["opt/amazon/a.py", LONG[:250] if fmt == tarfile.USTAR_FORMAT else LONG]
    if fmt != tarfile.USTAR_FORMAT:
        names.append("opt/amazon/caf\u00e9/\u65e5\u672c.txt")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for number, name in enumerate(names):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid = 3 + number, 0o755, 1000
            tar.addfile(info, io.BytesIO(b"x" * info.size))
        link = tarfile.TarInfo("opt/amazon/link")
        link.type, link.linkname = tarfile.SYMTYPE, "a.py" if fmt == tarfile.USTAR_FORMAT else LONG
        tar.addfile(link)
        folder = tarfile.TarInfo("opt/amazon/dir")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    blob = buffer.getvalue()
    assert lean_members(blob) == stock_members(blob)


def test_old_v7_directories_and_odd_checksums_read_as_tarfile_reads_them() -> None:
    info = tarfile.TarInfo("opt/amazon/v7dir/")
    info.type = tarfile.AREGTYPE  # V7: a "regular file" whose name ends in a slash
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    # store a *signed* checksum, as some old tars did, by setting a high byte in the name
    header[99] = 0xFF
    header[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in header)
    header[148:156] = b"%06o\0 " % signed
    blob = bytes(header) + bytes(1024)
    assert stock_members(blob) == lean_members(blob)


def test_a_size_in_base_256_is_read_by_tarfile_itself() -> None:
    info = tarfile.TarInfo("opt/amazon/huge.bin")
    info.size = 9 * 1024**3  # over 8 GiB: the GNU format writes the size in base 256
    header = info.tobuf(tarfile.GNU_FORMAT)
    parsed = _LeanTarInfo.frombuf(header, "utf-8", "surrogateescape")
    assert (parsed.name, parsed.size) == ("opt/amazon/huge.bin", 9 * 1024**3)


def sparse_archive(tmp_path: Path, *options: str) -> tuple[bytes, bytes]:
    """A GNU tar archive of a 6 MiB file that is one hole but for 18 bytes, and that file."""
    sparse = tmp_path / "opt" / "amazon" / "sparse.img"
    sparse.parent.mkdir(parents=True)
    with sparse.open("wb") as file:
        file.seek(3 * 1024 * 1024)
        file.write(b"data in the middle")
        file.truncate(6 * 1024 * 1024)
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", *options, "--sparse", "-cf", str(archive), "-C", str(tmp_path), "opt"],
                   check=True)
    return archive.read_bytes(), sparse.read_bytes()


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_pax_sparse_files_from_gnu_tar_read_with_their_holes(tmp_path: Path,
                                                              version: str) -> None:
    blob, content = sparse_archive(tmp_path, "--format=posix", f"--sparse-version={version}")
    lean = lean_members(blob)
    assert lean == stock_members(blob)
    assert [member[-1] for member in lean if str(member[0]).endswith("sparse.img")] == [content]
    assert len(blob) < 1024 * 1024  # the holes were not stored


def test_old_gnu_sparse_members_are_refused_as_docker_and_containerd_refuse_them(
        tmp_path: Path) -> None:
    blob, _ = sparse_archive(tmp_path, "--format=gnu")
    with pytest.raises(UnsafeArchiveError, match="'opt/amazon/sparse.img' is an old GNU sparse "
                                                 r"member \(type 'S'\)"), tar_errors("layer"):
        lean_members(blob)


def test_a_stream_that_ends_without_the_end_of_archive_marker_is_an_error() -> None:
    blob = layer_tar([File("a", b"a" * 600)])
    with pytest.raises(ImageError, match="layer: the tar stream ends without its end-of-archive"):
        list(TarMembers(io.BytesIO(blob[:1536]), "layer"))  # type: ignore[arg-type]
