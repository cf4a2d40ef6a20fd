"""git binary patches decoded and applied in pure Python: base85, zlib, deltas."""

from __future__ import annotations

import zlib

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.git.diff import diff_text
from sync.series.binary import BinaryProblem, apply_delta, decode_lines
from sync.series.parse import parse_patch
from tests.series.builders import base85_line, entry_of


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path_factory.mktemp("binary") / "repo"))


def binary_patch(repo: pygit2.Repository, old: bytes, new: bytes):
    text = diff_text(repo, {"bundle/f.bin": entry_of(repo, old)},
                     {"bundle/f.bin": entry_of(repo, new)})
    return parse_patch(text, "f.patch").files[0].binary


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=3000), st.binary(max_size=300), st.integers(0, 3000))
def test_git_binary_patches_apply_to_their_preimage(repo: pygit2.Repository, old: bytes,
                                                   insert: bytes, at: int):
    old = b"\0" + old  # libgit2 treats content with a NUL byte as binary
    new = old[:at] + insert + old[at + len(insert) // 2:]
    if new == old:
        return
    binary = binary_patch(repo, old, new)
    assert binary is not None
    forward = binary.forward
    result = forward.data if forward.method == "literal" else apply_delta(old, forward.data)
    assert result == new
    if binary.reverse is not None and binary.reverse.method == "delta":
        assert apply_delta(new, binary.reverse.data) == old


def test_libgit2_emits_deltas_for_small_changes_to_large_files(repo: pygit2.Repository):
    old = bytes(range(256)) * 64
    binary = binary_patch(repo, old, old[:1000] + b"changed" + old[1000:])
    assert binary is not None and binary.forward.method == "delta"


def test_a_delta_for_another_preimage_is_refused():
    delta = bytes([10, 3, 0x90, 3])  # source 10 bytes, target 3, copy 3 bytes from offset 0
    assert apply_delta(b"0123456789", delta) == b"012"
    with pytest.raises(BinaryProblem, match="expects a 10-byte preimage"):
        apply_delta(b"short", delta)


@pytest.mark.parametrize("delta, message", [
    (bytes([3, 3, 0x91, 2, 3]), "beyond the end"),
    (bytes([3, 3, 0]), "reserved opcode"),
    (bytes([3, 9, 5, 1]), "inserts past its own end"),
    (bytes([3, 2, 0x90, 3]), "produces more than the 2 bytes its header says"),
    (bytes([3, 4, 0x90, 3]), "produced 3 bytes, header says 4"),
    (bytes([3]), "ends in the middle"),
])
def test_corrupt_deltas_are_refused(delta: bytes, message: str):
    with pytest.raises(BinaryProblem, match=message):
        apply_delta(b"abc", delta)


def test_base85_lines_decode_to_the_declared_size():
    data = zlib.compress(b"hello binary world" * 10)
    lines = [base85_line(data[i:i + 52]) for i in range(0, len(data), 52)]
    assert decode_lines(lines, 5, 180) == b"hello binary world" * 10
    with pytest.raises(BinaryProblem) as raised:
        decode_lines(lines, 5, 181)
    assert raised.value.line == 5 and "header says 181" in str(raised.value)


@pytest.mark.parametrize("line, message", [
    (b"!abcde", "bad length character"),
    (b"Eabcd", "holds 4 characters for 5 bytes"),
    (b"", "empty line"),
])
def test_malformed_base85_lines_name_their_line(line: bytes, message: str):
    good = base85_line(zlib.compress(b"x"))
    with pytest.raises(BinaryProblem, match=message) as raised:
        decode_lines([good, line], 10, 1)
    assert raised.value.line == 11
