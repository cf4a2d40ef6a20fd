"""A rebase's scope (targets, upstream branch): read when it starts, kept while it is stopped."""

from __future__ import annotations

from sync.series.scope import Scope, Scoped, changed
from sync.series.state import RebaseState

BUNDLE = Scope(("bundle",), "upstream", origin="upstream-manifest.yaml")


class Manifest:
    """A ``Project`` over a manifest held in memory: counts how often it is parsed."""

    def __init__(self, scope: Scope, fingerprint: str) -> None:
        self.now, self.bytes_id, self.parsed = scope, fingerprint, 0

    def scope(self) -> Scope:
        self.parsed += 1
        return self.now

    def fingerprint(self) -> str | None:
        return self.bytes_id


class Warnings:
    """A ``Display`` that keeps the warnings."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def warn(self, message: str) -> None:
        self.shown.append(message)

    def live(self):  # pragma: no cover - no bars here
        raise AssertionError


def stopped(**kept: object) -> RebaseState:
    return RebaseState(phase="conflict", onto="0" * 40, base=None, backup_tree="1" * 40,
                       had_index=True, **kept)  # type: ignore[arg-type]


def test_a_start_reads_the_manifest_and_keeps_its_scope_and_fingerprint():
    manifest = Manifest(BUNDLE, "abc")
    session = Scoped(manifest, Warnings())
    assert session._scope_now() == {"targets": ["bundle"], "branch": "upstream",
                                    "manifest": "abc"}
    assert (session.targets, session.roots, session.branch) == (
        ("bundle",), ("bundle", "patches"), "upstream")


def test_a_stopped_rebase_keeps_its_scope_without_parsing_an_unchanged_manifest():
    manifest = Manifest(Scope(("other",), "vendor"), "abc")
    display = Warnings()
    session = Scoped(manifest, display)
    session._scope_kept(stopped(targets=["bundle"], branch="upstream", manifest="abc"))
    assert (session.targets, session.branch, manifest.parsed) == (("bundle",), "upstream", 0)
    assert display.shown == []


def test_a_changed_manifest_is_parsed_and_a_new_scope_is_warned_of_not_taken():
    manifest = Manifest(Scope(("bundle", "extra"), "vendor", "upstream-manifest.yaml"), "new")
    display = Warnings()
    session = Scoped(manifest, display)
    session._scope_kept(stopped(targets=["bundle"], branch="upstream", manifest="old"))
    assert (session.targets, session.branch, manifest.parsed) == (("bundle",), "upstream", 1)
    assert display.shown == [changed(manifest.now, BUNDLE)]


def test_a_changed_manifest_with_the_same_scope_is_not_mentioned():
    manifest = Manifest(BUNDLE, "new")
    display = Warnings()
    Scoped(manifest, display)._scope_kept(stopped(targets=["bundle"], branch="upstream",
                                                  manifest="old"))
    assert manifest.parsed == 1 and display.shown == []


def test_a_state_from_before_the_record_takes_the_manifests_scope():
    manifest = Manifest(Scope(("bundle", "extra"), "vendor"), "abc")
    session = Scoped(manifest, Warnings())
    session._scope_kept(stopped())
    assert (session.targets, session.branch, manifest.parsed) == (("bundle", "extra"),
                                                                 "vendor", 1)


def test_the_warning_names_the_file_and_only_what_changed():
    message = changed(Scope(("bundle", "extra"), "upstream", "upstream-manifest.yaml"), BUNDLE)
    assert message.startswith("upstream-manifest.yaml changed while the rebase was stopped: "
                              "targets now bundle, extra (before: bundle); the rebase keeps")
    assert "branch" not in message.split(";")[0]


def test_a_fixed_scope_is_a_project_without_a_file():
    assert BUNDLE.scope() is BUNDLE and BUNDLE.fingerprint() is None
