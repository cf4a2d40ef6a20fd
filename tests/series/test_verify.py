"""verify / drift_between: the one answer to "is this tree upstream + series?"."""

from __future__ import annotations

from pathlib import Path

import pygit2

from sync.git.trees import TreeSource
from sync.series.load import load_series
from sync.series.verify import Drift, DriftKind, drift_between, drift_lines, verify
from tests.series.builders import format_patches, make_tree

UPSTREAM = {"bundle/a.py": b"a\nb\nc\n", "bundle/b.py": b"x\n"}
PATCHED = {**UPSTREAM, "bundle/a.py": b"a\nB\nc\n"}


def series_tree(repo: pygit2.Repository, tmp_path: Path, work: dict[str, bytes],
                base: str | None) -> str:
    mail = format_patches(tmp_path / "scratch", [UPSTREAM, PATCHED], ["Fix"])[0]
    series = (f"# upstream: {base}\n" if base else "") + "0001-fix.patch\n"
    return make_tree(repo, {**work, "patches/0001-fix.patch": mail,
                            "patches/series": series.encode()})


def test_a_tree_equal_to_upstream_plus_series_has_no_drift(repo_dir: Path, tmp_path: Path):
    repo = pygit2.Repository(str(repo_dir))
    upstream = make_tree(repo, UPSTREAM)
    actual = series_tree(repo, tmp_path, PATCHED, None)
    loaded = load_series(TreeSource(repo, actual), ("bundle",))
    result = verify(repo, loaded, upstream, actual, ("bundle",))
    assert result.clean and result.drift == ()
    assert [report.name for report in result.applied.reports] == ["0001-fix.patch"]


def test_drift_is_classified_per_path(repo_dir: Path, tmp_path: Path):
    repo = pygit2.Repository(str(repo_dir))
    upstream = make_tree(repo, UPSTREAM)
    work = {"bundle/a.py": b"a\nb\nc\n", "bundle/new.py": b"n\n"}  # b.py gone, a.py unpatched
    actual = series_tree(repo, tmp_path, work, None)
    loaded = load_series(TreeSource(repo, actual), ("bundle",))
    result = verify(repo, loaded, upstream, actual, ("bundle",))
    assert not result.clean
    assert result.drift == (Drift("bundle/a.py", DriftKind.MODIFIED),
                            Drift("bundle/b.py", DriftKind.MISSING),
                            Drift("bundle/new.py", DriftKind.UNEXPLAINED))


def test_paths_outside_the_targets_are_not_drift(repo_dir: Path):
    repo = pygit2.Repository(str(repo_dir))
    expected = make_tree(repo, {**UPSTREAM, "README.md": b"one\n"})
    actual = make_tree(repo, {**UPSTREAM, "README.md": b"two\n"})
    assert drift_between(repo, expected, actual, ("bundle",)) == ()


def test_drift_lines_name_the_first_ones_and_count_the_rest():
    drift = [Drift(f"bundle/f{n}.py", DriftKind.MODIFIED) for n in range(5)]
    assert drift_lines(drift, limit=2) == ("  bundle/f0.py (modified)\n"
                                           "  bundle/f1.py (modified)\n  ... and 3 more")
