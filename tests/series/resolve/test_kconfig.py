"""Rule kconfig-attributes: dependencies both sides add to one Kconfig entry are all kept."""

from __future__ import annotations

from sync.series.resolve.blocks import Block
from sync.series.resolve.kconfig import resolve

DEPENDS = b"//config:\tdepends on PLATFORM_LINUX\n"
SELECT = b"//config:\tselect LONG_OPTS\n"


def test_a_depends_and_a_select_added_at_one_place_are_both_kept_depends_first():
    """busybox's hwclock.c: upstream selects LONG_OPTS, the patch depends on PLATFORM_LINUX."""
    assert resolve(Block(ours=(SELECT,), base=(), theirs=(DEPENDS,))) == (DEPENDS, SELECT)


def test_plain_kconfig_files_too():
    block = Block(ours=(b"\tselect CRC32\n",), base=(), theirs=(b"\tdepends on NET\n",))
    assert resolve(block) == (b"\tdepends on NET\n", b"\tselect CRC32\n")


def test_a_default_is_never_reordered():
    """The first matching default wins: its place matters."""
    block = Block(ours=(b"\tdefault y if X\n",), base=(), theirs=(b"\tdepends on NET\n",))
    assert resolve(block) is None


def test_a_changed_line_is_not_this_rules_business():
    block = Block(ours=(b"\tdepends on A\n",), base=(b"\tdepends on B\n",),
                  theirs=(b"\tdepends on C\n",))
    assert resolve(block) is None


def test_code_that_happens_to_say_select_is_left_alone():
    block = Block(ours=(b"    select(fd, &set);\n",), base=(), theirs=(DEPENDS,))
    assert resolve(block) is None
