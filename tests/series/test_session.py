"""The rebase session: start, stop at a conflict, resume or abort, through its own state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sync.errors import ConflictError, GitError, RebaseInProgress
from sync.git import repo as gitrepo
from sync.series.outcome import Status
from sync.series.scope import Scope
from sync.series.session import Quiet, RebaseSession
from sync.series.state import STATE_FORMAT, StateStore
from tests.series.builders import Checkout, format_patches, git

APP = b"".join(b"line %d\n" % number for number in range(60))
PATCHED = APP.replace(b"line 40\n", b"patched 40\n")


class Recorder:
    """A Display that remembers what the session showed."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.bars: list[str] = []
        self.updates: list[tuple[str, int, str]] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @contextmanager
    def live(self) -> Iterator[Recorder]:
        yield self

    def bar(self, description: str, total: int, completed: int = 0) -> Recorder.Bar:
        self.bars.append(description)
        return Recorder.Bar(self, description)

    class Bar:
        def __init__(self, owner: Recorder, description: str) -> None:
            self.owner, self.description = owner, description

        def update(self, completed: int, detail: str = "") -> None:
            self.owner.updates.append((self.description, completed, detail))

        def advance(self, count: int) -> None:
            self.owner.updates.append((self.description, count, "+"))

        def describe(self, detail: str) -> None:
            self.owner.updates.append((self.description, -1, detail))


@pytest.fixture
def checkout(repo_dir: Path, tmp_path: Path) -> Checkout:
    """One patch on APP, committed; upstream then rewrites the line the patch changes."""
    checkout = Checkout(repo_dir)
    base = checkout.upstream({"bundle/app.py": APP})
    mail, = format_patches(tmp_path / "scratch", [{"bundle/app.py": APP},
                                                  {"bundle/app.py": PATCHED}], ["Fix"])
    checkout.write({"bundle/app.py": PATCHED})
    checkout.patches({"0001-fix.patch": mail}, base=base)
    checkout.commit("community work")
    checkout.upstream({"bundle/app.py": APP.replace(b"line 40\n", b"upstream 40\n")})
    return checkout


def session(checkout: Checkout, display: Recorder | None = None) -> RebaseSession:
    return RebaseSession(checkout.repo, Scope(("bundle",), "upstream"), display)


def test_a_conflict_stops_the_session_and_leaves_a_state_of_the_current_format(
        checkout: Checkout):
    display = Recorder()
    outcome = session(checkout, display).start(None, fuzz=0, drop_merged=False, force=False)
    assert outcome.action == "start" and outcome.reports == []
    assert outcome.stopped is not None and outcome.stopped.status is Status.CONFLICT
    assert outcome.stopped.conflicts == ("bundle/app.py",)
    assert outcome.onto == str(gitrepo.branch_tip(checkout.repo, "upstream").id)
    assert display.bars[:2] == ["reading the work tree and the series", "rebasing patches"]
    assert "writing work tree" in display.bars
    assert ("rebasing patches", 0, "0001-fix.patch") in display.updates
    document = json.loads((checkout.path / ".git/simapp-sync/rebase/state.json").read_text())
    assert document["format"] == STATE_FORMAT and document["phase"] == "conflict"
    state = StateStore(checkout.path / ".git").load()
    assert state is not None and state.stopped is not None
    assert state.stopped.report() == outcome.stopped  # the stopped report survives the disk


def test_while_stopped_a_new_start_is_refused_by_the_guard(checkout: Checkout):
    session(checkout).start(None, fuzz=0, drop_merged=False, force=False)
    with pytest.raises(RebaseInProgress, match="a rebase-patches is in progress") as raised:
        session(checkout).start(None, fuzz=0, drop_merged=False, force=True)
    assert raised.value.exit_code == 1
    assert "--continue" in (raised.value.hint or "") and "--abort" in (raised.value.hint or "")


def test_resume_takes_the_maintainers_resolution_and_finishes(checkout: Checkout):
    session(checkout).start(None, fuzz=0, drop_merged=False, force=False)
    with pytest.raises(ConflictError, match="unmerged paths: bundle/app.py"):
        session(checkout).resume(skip=False)
    resolved = APP.replace(b"line 40\n", b"upstream 40 patched\n")
    (checkout.path / "bundle/app.py").write_bytes(resolved)
    git(checkout.path, "add", "bundle/app.py")
    outcome = session(checkout).resume(skip=False)  # the default display: Quiet
    assert outcome.action == "continue" and outcome.stopped is None
    assert [report.status for report in outcome.reports] == [Status.RESOLVED]
    assert checkout.read("bundle/app.py") == resolved
    assert b"+upstream 40 patched\n" in checkout.read("patches/0001-fix.patch")
    assert not StateStore(checkout.path / ".git").exists()
    assert git(checkout.path, "ls-files", "-u") == ""


def test_a_resolution_the_maintainer_staged_stays_staged_as_it_was(checkout: Checkout):
    # the file is not written again (the result is what the maintainer left): its index entry,
    # stat data and all, is the one `git add` made
    session(checkout).start(None, fuzz=0, drop_merged=False, force=False)
    (checkout.path / "bundle/app.py").write_bytes(APP.replace(b"line 40\n", b"resolved 40\n"))
    git(checkout.path, "add", "bundle/app.py")
    staged = git(checkout.path, "ls-files", "--stage", "--debug", "bundle/app.py")
    session(checkout).resume(skip=False)
    assert git(checkout.path, "ls-files", "--stage", "--debug", "bundle/app.py") == staged
    assert git(checkout.path, "status", "--porcelain", "bundle") == "M  bundle/app.py\n"


def test_skip_drops_the_conflicting_patch_and_goes_on(checkout: Checkout):
    session(checkout).start(None, fuzz=0, drop_merged=False, force=False)
    skipped = session(checkout, Recorder()).resume(skip=True)
    assert [report.status for report in skipped.reports] == [Status.SKIPPED]
    assert b"0001-fix.patch" not in checkout.read("patches/series")
    assert b"upstream 40\n" in checkout.read("bundle/app.py")


def test_abort_restores_the_targets_and_patches_byte_for_byte(checkout: Checkout):
    before = checkout.files()
    session(checkout).start(None, fuzz=0, drop_merged=False, force=False)
    aborted = session(checkout, Recorder()).abort()
    assert aborted.aborted and aborted.action == "abort"
    assert checkout.files() == before
    assert not StateStore(checkout.path / ".git").exists()


def test_without_a_stopped_rebase_resume_and_abort_say_so(checkout: Checkout):
    for action in (lambda s: s.resume(skip=False), lambda s: s.abort()):
        with pytest.raises(GitError, match="no rebase-patches in progress"):
            action(session(checkout, Quiet()))


def test_a_state_written_in_another_format_is_refused_and_kept(checkout: Checkout):
    session(checkout).start(None, fuzz=0, drop_merged=False, force=False)
    path = checkout.path / ".git/simapp-sync/rebase/state.json"
    document = json.loads(path.read_text())
    document["format"] = STATE_FORMAT + 1
    path.write_text(json.dumps(document))
    with pytest.raises(GitError, match=f"format {STATE_FORMAT + 1} is not the format") as raised:
        session(checkout).abort()
    assert "remove" in (raised.value.hint or "")
    assert path.exists()  # nothing forgotten, nothing restored


def test_a_patch_shows_its_phases_while_it_is_worked_on(checkout: Checkout):
    """A 100 MB grouped patch takes seconds: the bar says what it is doing within it (here
    the hunk does not land upstream, so the patch is applied to the recorded base as well,
    for the 3-way merge)."""
    display = Recorder()
    session(checkout, display).start(None, fuzz=0, drop_merged=False, force=False)
    details = [detail for bar, _done, detail in display.updates if bar == "rebasing patches"]
    assert details[:5] == ["0001-fix.patch", "0001-fix.patch (parsing)",
                           "0001-fix.patch (applying)",
                           "0001-fix.patch (applying to the recorded base)",
                           "0001-fix.patch (refreshing)"]
