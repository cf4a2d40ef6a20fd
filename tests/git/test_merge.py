"""Three-way file merges with libgit2, conflicts marked diff3-style with labels."""

from __future__ import annotations

from sync.git.merge import Labels, merge_file

BASE = b"a\nb\nc\nd\ne\nf\ng\n"


def test_separate_changes_merge_cleanly(repo):
    result = merge_file(repo, "f", BASE, BASE.replace(b"a\n", b"A\n"), BASE.replace(b"g\n", b"G\n"))
    assert result.clean and result.content == b"A\nb\nc\nd\ne\nf\nG\n"


def test_a_conflict_has_the_base_section_and_the_labels(repo):
    result = merge_file(repo, "f", BASE, BASE.replace(b"d\n", b"ours\n"),
                        BASE.replace(b"d\n", b"theirs\n"),
                        Labels("base 1234567", "upstream 89abcde", "0005-pins.patch"))
    assert not result.clean
    assert (b"<<<<<<< upstream 89abcde\nours\n||||||| base 1234567\nd\n=======\ntheirs\n"
            b">>>>>>> 0005-pins.patch\n") in result.content


def test_two_additions_without_a_base(repo):
    assert merge_file(repo, "f", None, b"same\n", b"same\n").content == b"same\n"
    assert not merge_file(repo, "f", None, b"one\n", b"two\n").clean
