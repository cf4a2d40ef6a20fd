"""Classes 7 and 9 of issue 11: PAX and GNU long-name headers are size-checked before they are
read and PAX records are checked by our own linear parser first, so neither a huge header nor
CVE-2024-6232's crafted one (quadratic in tarfile's regular expressions on Python 3.11.7) costs
more than a moment, whatever the Python release."""

from __future__ import annotations

import io
import resource
import tarfile
import time
from pathlib import Path

import pytest

from sync.errors import UnsafeArchiveError
from sync.image.layer_tar import MAX_EXTENDED_HEADER, TarMembers, tar_errors


def header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def archive(kind: bytes, payload: bytes, declared: int | None = None) -> bytes:
    """One extended header (``payload``, or just a header ``declared`` long) then a file."""
    size = len(payload) if declared is None else declared
    body = header("././@Extended", kind, size) + payload + b"\0" * (-len(payload) % 512)
    return body + header("a.txt", tarfile.REGTYPE, 0) + b"\0" * 1024


def members(blob: bytes) -> list[str]:
    with tar_errors("layer 1/1"):
        return [info.name for info in TarMembers(io.BytesIO(blob), "layer 1/1")]


def test_a_well_formed_pax_path_still_reads():
    record = b"path=" + b"d/" * 100 + b"long.txt\n"
    length = len(record) + 4
    payload = str(length).encode() + b" " + record
    assert len(payload) == length
    assert members(archive(tarfile.XHDTYPE, payload)) == ["d/" * 100 + "long.txt"]


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME,
                                  tarfile.GNUTYPE_LONGLINK])
def test_an_extended_header_over_the_cap_is_refused_before_it_is_read(kind: bytes):
    declared = 8 * 1024**3 - 1  # 8 GiB announced, nothing behind it: refused on the size alone
    started = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match=f"over the {MAX_EXTENDED_HEADER}-byte cap"):
        members(archive(kind, b"", declared))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("payload", [
    b"1" * 60_000,  # CVE-2024-6232's shape: 26 s in tarfile on 3.11.7 at 64 KiB
    b"99 path=x\n",  # a length past the end
    b"10 pathx\n\n",  # no '='
    b"0 =\n",
    b"79 path=" + b"1" * 70 + b"\n",  # a long run of digits in a value
])
def test_a_malformed_pax_header_is_refused_in_linear_time(payload: bytes):
    started = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match="layer 1/1: refused: .*PAX header"):
        members(archive(tarfile.XHDTYPE, payload))
    assert time.monotonic() - started < 2


def test_peak_memory_stays_small_for_a_huge_long_name_claim():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnsafeArchiveError):
        members(archive(tarfile.GNUTYPE_LONGNAME, b"a" * 1024, declared=2**33 - 1))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive"])
@pytest.mark.parametrize("extended", [
    archive(tarfile.XHDTYPE, b"", 8 * 1024**3 - 1)[:-1536],  # 8 GiB announced
    archive(tarfile.XHDTYPE, b"1" * 60_000)[:-1536],  # CVE-2024-6232's shape
])
def test_the_image_archive_around_the_layers_gets_the_same_header_checks(
        tmp_path: Path, transport: str, extended: bytes):
    from tests.builders.images import write_docker_archive, write_oci_archive
    from tests.image.archives import IMAGE, open_error

    path = tmp_path / "image.tar"
    (write_oci_archive if transport == "oci-archive" else write_docker_archive)(path, IMAGE)
    path.write_bytes(extended + path.read_bytes())
    started = time.monotonic()
    error = open_error(f"{transport}:{path}")
    assert time.monotonic() - started < 2
    assert f"{path}: not a readable tar archive" in error.message
    assert "PAX header" in error.message
