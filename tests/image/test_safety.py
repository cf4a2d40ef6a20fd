"""Untrusted names: nothing escapes the root, nothing reaches into .git."""

from __future__ import annotations

import pytest

from sync.errors import UnsafeArchiveError
from sync.image.safety import (
    check_kept_path,
    display,
    is_dotgit,
    normalize_member_name,
    resolve_link,
    symlink_escape,
)


@pytest.mark.parametrize("name, path", [
    ("opt/amazon/x.py", "opt/amazon/x.py"),
    ("./opt/amazon/x.py", "opt/amazon/x.py"),  # usual in tars made with `tar -C dir .`
    ("opt/amazon/", "opt/amazon"),
    ("./", ""),
    (".", ""),
    ("opt//amazon/./x", "opt/amazon/x"),
    ("opt/amazon/../amazon/x", "opt/amazon/x"),  # stays inside: resolved
    ("opt/.hidden/.x", "opt/.hidden/.x"),
    (".wh..wh..opq", ".wh..wh..opq"),
])
def test_member_names_are_normalized(name: str, path: str) -> None:
    assert normalize_member_name(name) == path


@pytest.mark.parametrize("name, reason", [
    ("../etc/passwd", "climbs out"),
    ("./../x", "climbs out"),
    ("opt/../../x", "climbs out"),
    ("..", "climbs out"),
    ("/etc/passwd", "absolute"),
    ("C:/Windows/x", "drive prefix"),
    ("c:x", "drive prefix"),
])
def test_escaping_member_names_are_refused_and_named(name: str, reason: str) -> None:
    with pytest.raises(UnsafeArchiveError) as raised:
        normalize_member_name(name, "layer 2/3")
    assert repr(name) in raised.value.message
    assert reason in raised.value.message
    assert raised.value.message.startswith("layer 2/3: ")


@pytest.mark.parametrize("component", [
    ".git", ".GIT", ".Git", "git~1", "GIT~1",
    ".git.", ".git ", ".git. . ", "git~1.",  # NTFS drops trailing dots and spaces
    ".git::$INDEX_ALLOCATION", ".git:stream",  # NTFS alternate data streams
    ".g\u200cit", "\u200d.git", ".git\ufeff", ".\u202eg\u206ait", ".gi\u200ft",  # HFS+ ignores
])
def test_every_spelling_of_dotgit_is_recognized(component: str) -> None:
    assert is_dotgit(component)


@pytest.mark.parametrize("component", [
    ".github", ".gitignore", ".gitmodules", "git", "gitx", "git~10", ".git2", "x.git",
    ".g\u200bit",  # U+200B is not in git's list of ignorable code points
])
def test_names_near_dotgit_are_fine(component: str) -> None:
    assert not is_dotgit(component)


@pytest.mark.parametrize("relative", [
    ".git/config", "a/.GIT/hooks/post-checkout", "a/git~1/x", "deep/down/.git./HEAD",
    "x/.g\u200cit/config",
])
def test_kept_paths_with_a_dotgit_component_are_refused(relative: str) -> None:
    path = f"opt/amazon/{relative}"
    with pytest.raises(UnsafeArchiveError) as raised:
        check_kept_path(path, relative, "layer 1/1")
    assert display(path) in raised.value.message
    assert ".git directory" in raised.value.message


def test_a_backslash_in_a_kept_path_is_refused() -> None:
    with pytest.raises(UnsafeArchiveError, match=r"backslash") as raised:
        check_kept_path("opt/amazon/a\\..\\..\\x", "a\\..\\..\\x")
    assert "'opt/amazon/a\\\\..\\\\..\\\\x'" in raised.value.message


def test_a_drive_prefix_in_a_kept_path_is_refused() -> None:
    with pytest.raises(UnsafeArchiveError, match="drive prefix"):
        check_kept_path("opt/amazon/C:x", "C:x")


def test_a_name_that_is_not_utf8_is_kept_as_git_keeps_it() -> None:
    name = b"opt/amazon/caf\xe9".decode("utf-8", "surrogateescape")  # as tarfile reads it
    check_kept_path(name, "caf\udce9")
    with pytest.raises(UnsafeArchiveError) as raised:  # but no .git, whatever else it holds
        check_kept_path("opt/amazon/.GIT/caf\udce9", ".GIT/caf\udce9")
    assert "b'opt/amazon/.GIT/caf\\xe9'" in raised.value.message
    long = (b"\xe9" * 256).decode("utf-8", "surrogateescape")  # 256 bytes, not UTF-8
    with pytest.raises(UnsafeArchiveError, match="over 255 bytes"):
        check_kept_path(f"opt/amazon/{long}", long)


def test_ordinary_kept_paths_pass() -> None:
    check_kept_path("opt/amazon/rl_coach/build/x.py", "rl_coach/build/x.py")
    check_kept_path("opt/amazon/caf\u00e9/na\u00efve.txt", "caf\u00e9/na\u00efve.txt")
    check_kept_path("opt/amazon/.github/workflows/ci.yml", ".github/workflows/ci.yml")
    check_kept_path("opt/amazon", "")


@pytest.mark.parametrize("path, link", [
    ("bundle/a/link", "../b/file"),
    ("bundle/link", "./x/../y"),
    ("bundle/a/b/link", "../../c"),
])
def test_symlinks_that_stay_inside_their_target_give_no_warning(path: str, link: str) -> None:
    assert symlink_escape(path, link, "bundle") is None


@pytest.mark.parametrize("path, link", [
    ("bundle/link", "../outside"),
    ("bundle/a/b/link", "../../../../etc/passwd"),
    ("bundle/a/link", "/usr/bin/python3"),
    # climbs above the target: in the image that is /opt/bundle/x, not this tree's bundle/x
    ("bundle/a/link", "../../bundle/x"),
])
def test_symlinks_that_escape_their_target_are_warned_about(path: str, link: str) -> None:
    warning = symlink_escape(path, link, "bundle")
    assert warning is not None
    assert path in warning and repr(link) in warning and "outside bundle/" in warning


@pytest.mark.parametrize("parent, link, resolved", [
    ("opt", "amazon-1.2", "opt/amazon-1.2"),
    ("opt", "../srv/amazon", "srv/amazon"),
    ("opt", "/srv/amazon", "srv/amazon"),
    ("", "../../../x", "x"),  # ".." at the root stays at the root, as in a chroot
    ("opt/a", "../../..", ""),
])
def test_links_resolve_inside_the_image(parent: str, link: str, resolved: str) -> None:
    assert resolve_link(parent, link) == resolved
