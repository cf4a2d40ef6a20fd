"""Apply one patch to an overlay: exact, offset, fuzz, then a 3-way merge, else a conflict.

Nothing is changed in the overlay unless every file of the patch lands (cleanly or merged); on a
conflict the outcome carries what would go into the work tree (files with conflict markers) and
the three sides of each conflicted file, and the overlay stays as it was before the patch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sync.errors import PatchError
from sync.git.merge import MergeResult
from sync.git.objects import blob_id
from sync.series.binary import BinaryProblem, apply_delta
from sync.series.hunks import (
    HunkResult,
    Landing,
    TextResult,
    apply_hunks,
    force_hunks,
    land_exactly,
)
from sync.series.model import MODE_FILE, Change, FilePatch, Hunk, Patch
from sync.series.outcome import (
    Conflict,
    FileOutcome,
    PatchOutcome,
    Status,
    hunks_status,
    patch_status,
)
from sync.series.overlay import Content, File, Overlay
from sync.series.parse import split_lines
from sync.series.resolve import UPSTREAM_CONTEXT_CHANGED, RuleSet

if TYPE_CHECKING:  # the rules are loaded when a hunk fails: a clean series never needs them
    from sync.series.resolve.conflicts import Settled

# (path, base or None, ours, theirs, mode) -> merged content, and the rules that acted
Merger = Callable[[str, bytes | None, bytes, bytes, int], "MergeResult | Settled"]
# the file as it was before and after this patch on the recorded base: (base, theirs)
Recorded = Callable[[FilePatch], tuple[bytes | None, bytes | None] | None]
# the content of a blob named by an ``index`` line, when the object database has it
BlobLookup = Callable[[str], bytes | None]
# a stored blob by its full id, not read yet (None when the database lacks it)
StoredLookup = Callable[[str], Content | None]


@dataclass(frozen=True)
class ApplyOptions:
    """How hard to try. Without ``merge`` a file that does not apply is simply a failure."""

    fuzz: int = 0
    merge: Merger | None = None
    recorded: Recorded | None = None
    find_blob: BlobLookup | None = None
    # a binary literal whose post-image (the full id on its ``index`` line) is already stored
    # is taken from the database, without decoding it
    stored: StoredLookup | None = None
    # upstream's renames since the recorded base (old path -> new path): a patch changing a
    # file upstream moved is applied to it where it now is, as ``git am -3`` does
    renames: Mapping[str, str] = field(default_factory=dict)
    rules: RuleSet = RuleSet()  # the merge rules in force (sync.series.resolve)


def apply_patch(patch: Patch, tree: Overlay, options: ApplyOptions = ApplyOptions()
                ) -> PatchOutcome:
    """Apply ``patch`` to ``tree``; the overlay changes only when no file conflicts."""
    return _PatchApplier(patch, tree, options).run()


class _PatchApplier:
    def __init__(self, patch: Patch, tree: Overlay, options: ApplyOptions) -> None:
        self.patch = patch
        self.tree = tree
        self.options = options
        self.pending: dict[str, File | None] = {}
        self.conflicts: list[Conflict] = []
        self.evidence: list[str] = []
        self.followed: dict[str, str] = {}  # renames followed: patch's path -> upstream's
        self.rules: dict[str, str] = {}  # path -> the merge rule that resolved (or refused) it

    def view(self, path: str) -> File | None:
        return self.pending[path] if path in self.pending else self.tree.get(path)

    def error(self, line: int, message: str) -> PatchError:
        return PatchError(f"{self.patch.name}:{line}: {message}",
                          hint="fix the patch (or remove it from patches/series) and rerun")

    def run(self) -> PatchOutcome:
        files = [self._file(file) for file in self.patch.files]
        self._refuse_clashes()
        # the overlay is untouched until the end, so ``before`` can be read now, when the
        # paths that renames led to are known
        paths = dict.fromkeys((*self.patch.paths, *self.followed.values()))
        before = {path: self.tree.get(path) for path in paths}
        after = {path: self.view(path) for path in paths}
        outcome = PatchOutcome(status=Status.CLEAN, files=tuple(files), before=before,
                               after=after, conflicts=tuple(self.conflicts),
                               evidence=tuple(self.evidence))
        status = patch_status(files, outcome.changed)
        if status is not Status.CONFLICT:
            self.tree.update(self.pending)
        return PatchOutcome(status=status, files=outcome.files, before=before, after=after,
                            conflicts=outcome.conflicts, evidence=outcome.evidence,
                            renames=tuple(self.followed.items()), rules=dict(self.rules))

    def _compact(self, file: FilePatch) -> None:
        """Hold each file once while the rest of the patch applies: a grouped patch edits tens
        of multi-MB text files, and line lists cost several times their bytes."""
        self.tree.release()
        for path in (file.old_path, file.new_path, self.followed.get(file.old_path or "")):
            if (held := self.pending.get(path or "")) is not None:
                held.content.compact()

    def _refuse_clashes(self) -> None:
        """A patch whose files cannot all exist at once (a symlink or file and a file below
        it) is refused whole: applying part of it would leave a tree no tool agrees on."""
        created = sorted(path for path, file in self.pending.items() if file is not None)
        folders: set[str] = set()  # ancestors already known not to be files
        for path in created:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                above = "/".join(parts[:depth])
                if above in folders:
                    continue
                folders.add(above)
                if self.view(above) is not None:
                    raise PatchError(
                        f"{self.patch.name}: {above} would be a file (or symlink) and "
                        f"{path} a file below it; the patch cannot apply as a whole and is "
                        "refused (nothing was applied)",
                        hint="fix the patch so that its files can all exist (or remove it "
                             "from patches/series) and rerun")

    # --- one file section --------------------------------------------------------------------
    def _file(self, file: FilePatch) -> FileOutcome:
        if file.binary_without_data:
            raise self.error(file.line, f"{file.path}: binary change without data (\"Binary "
                             "files differ\"); regenerate the patch with --binary")
        apply = {Change.ADD: self._add, Change.DELETE: self._delete}.get(file.change, self._modify)
        outcome = apply(file)
        if file is not self.patch.files[-1]:  # (after the last, the engine releases them all)
            self._compact(file)
        return outcome

    def _add(self, file: FilePatch) -> FileOutcome:
        path = file.path
        mode = file.new_mode or MODE_FILE
        new = self._new_file(file, mode)
        existing = self.view(path)
        if existing is not None:
            if existing == new:
                return self._note(FileOutcome(path, Status.ALREADY_UPSTREAM,
                                              note="already added upstream, same content"))
            return self._merge(file, path, None, existing, new, mode, (),
                               "added upstream with other content")
        blocked = self.tree.blocked(path)
        if blocked:
            raise self.error(file.line, f"cannot create {path}: {blocked}")
        self.pending[path] = new
        return FileOutcome(path, Status.CLEAN)

    def _delete(self, file: FilePatch) -> FileOutcome:
        path = file.path
        existing = self.view(path)
        if existing is None:
            followed = self._follow(path)
            if followed is None:
                return self._note(FileOutcome(path, Status.ALREADY_UPSTREAM,
                                              note="already deleted upstream"))
            path, existing = followed
        if self._deletes_exactly(file, existing):
            self.pending[path] = None
            return FileOutcome(path, Status.CLEAN)
        recorded = self._recorded(file)
        base = recorded[0] if recorded else None
        if base is not None and base == existing.content.data:
            self.pending[path] = None
            return FileOutcome(path, Status.MERGED, note="deleted (3-way)")
        return self._conflict(Conflict(
            path, base=File.of(existing.mode, base) if base is not None else None,
            ours=existing, theirs=None, merged=existing,
            reason="changed upstream, deleted by the patch"))

    def _deletes_exactly(self, file: FilePatch, existing: File) -> bool:
        if file.binary is not None:
            expected = _full(file.old_oid)
            if expected is not None:
                return _id_of(existing) == expected
            reverse = file.binary.reverse
            return reverse is None or (reverse.method == "literal"
                                       and reverse.data == existing.content.data)
        if not file.hunks:
            return existing.content.data == b""
        result = land_exactly(existing.content.data, file.hunks) or \
            apply_hunks(existing.content.lines, file.hunks)
        return not result.failed and not (result.lines if result.data is None else result.data)

    def _modify(self, file: FilePatch) -> FileOutcome:
        source, target = file.old_path, file.new_path
        assert source is not None and target is not None
        existing = self.view(source)
        notes = []
        if existing is None:
            moved = self.view(target) if file.change is Change.RENAME else None
            if moved is not None:
                existing, source = moved, target
                notes.append("already renamed upstream")
            else:
                followed = self._follow(source)
                if followed is None:
                    return self._vanished(file, target)
                # a plain edit goes where upstream moved the file; a patch's own rename
                # still decides where the file ends up
                target = followed[0] if target == source else target
                source, existing = followed
        mode = self._mode(file, existing, notes)
        results: tuple[HunkResult, ...] = ()
        new_oid = None
        if file.binary is not None:
            content, status, new_oid = self._binary(file, existing)
        elif file.hunks:
            text = land_exactly(existing.content.data, file.hunks) or \
                apply_hunks(existing.content.lines, file.hunks, fuzz=self.options.fuzz)
            if text.failed and self.options.rules.on(UPSTREAM_CONTEXT_CHANGED):
                from sync.series.resolve.upstream import already_upstream

                found = already_upstream(existing.content.lines, file.hunks, text)
                if found is not None:
                    text = found
                    self.rules[target] = UPSTREAM_CONTEXT_CHANGED
                    notes.append(f"resolved by rule {UPSTREAM_CONTEXT_CHANGED}")
            if text.failed:
                return self._three_way(file, source, target, existing, mode, text)
            results = text.hunks
            content = Content(text.data, text.lines)
            status = hunks_status(results)
        else:
            content, status = existing.content, Status.CLEAN
        keeps_id = content is existing.content
        result = File(mode, content, existing.oid if keeps_id else new_oid)
        occupant = self.view(target)
        if source != target and occupant is not None:
            return self._merge(file, target, None, occupant, result, mode, results,
                               f"{target} already exists upstream")
        self._write(file, source, target, result)
        if occupant == result:
            status = Status.ALREADY_UPSTREAM
        elif notes and status in (Status.CLEAN, Status.OFFSET, Status.FUZZ):
            status = Status.PARTLY_UPSTREAM
        return self._note(FileOutcome(target, status, results, "; ".join(notes)), file.hunks)

    def _follow(self, path: str) -> tuple[str, File] | None:
        """Where upstream renamed ``path`` to, and the file there, when it did."""
        moved = self.options.renames.get(path)
        found = self.view(moved) if moved is not None else None
        if moved is None or found is None:
            return None
        self.followed[path] = moved
        self.evidence.append(f"followed rename {path} -> {moved}")
        return moved, found

    def _vanished(self, file: FilePatch, target: str) -> FileOutcome:
        """The patch changes a file that upstream deleted: a modify/delete conflict."""
        recorded = self._recorded(file)
        base, theirs = recorded if recorded else (None, None)
        theirs_file = File.of(file.new_mode or MODE_FILE, theirs) if theirs is not None else None
        base_file = File.of(file.old_mode or MODE_FILE, base) if base is not None else None
        return self._conflict(Conflict(target, base=base_file, ours=None, theirs=theirs_file,
                                       merged=theirs_file,
                                       reason="deleted upstream, changed by the patch"))

    def _mode(self, file: FilePatch, existing: File, notes: list[str]) -> int:
        if file.new_mode is None or file.old_mode is None or file.new_mode == file.old_mode:
            return existing.mode
        if existing.mode == file.new_mode:
            notes.append("mode already changed upstream")
        return file.new_mode

    def _write(self, file: FilePatch, source: str, target: str, result: File) -> None:
        if file.change is Change.RENAME and source != target:
            self.pending[source] = None
        self.pending[target] = result

    # --- content -----------------------------------------------------------------------------
    def _new_file(self, file: FilePatch, mode: int) -> File:
        if file.binary is not None:
            forward = file.binary.forward
            if forward.method == "literal":
                stored = self._stored(file.new_oid)
                if stored is not None:
                    return File(mode, stored, _full(file.new_oid))
                return File.of(mode, forward.data)
            try:
                return File.of(mode, apply_delta(b"", forward.data))
            except BinaryProblem as problem:
                raise self.error(forward.line, f"{file.path}: {problem}") from None
        result = apply_hunks([], file.hunks)
        if result.failed or result.lines is None:
            raise self.error(file.line, f"{file.path}: a new file's hunks must not have "
                             "preimage lines")
        return File(mode, Content(lines=result.lines))

    def _stored(self, oid: str | None) -> Content | None:
        full = _full(oid)
        if full is None or self.options.stored is None:
            return None
        return self.options.stored(full)

    def _binary(self, file: FilePatch, existing: File) -> tuple[Content, Status, str | None]:
        assert file.binary is not None
        found = _id_of(existing)
        old, new = _full(file.old_oid), _full(file.new_oid)
        forward = file.binary.forward
        if new is not None and found == new:
            self.evidence.append(f"{file.path}: binary content already upstream")
            return existing.content, Status.ALREADY_UPSTREAM, None
        if old is not None and found != old:
            raise self.error(forward.line, f"{file.path}: binary preimage does not match "
                             f"(the patch expects blob {old[:12]}, the file is {found[:12]})")
        if forward.method == "literal":
            stored = self._stored(new)
            if stored is not None:
                return stored, Status.CLEAN, new
            result = forward.data
        else:
            try:
                result = apply_delta(existing.content.data, forward.data)
            except BinaryProblem as problem:
                raise self.error(forward.line, f"{file.path}: binary preimage does not match: "
                                 f"{problem}") from None
        if new is not None and blob_id(result) != new:
            raise self.error(forward.line, f"{file.path}: binary result is not blob {new[:12]} "
                             "as the index line says")
        return Content(result), Status.CLEAN, None  # decoded: not stored yet

    # --- 3-way -------------------------------------------------------------------------------
    def _three_way(self, file: FilePatch, source: str, target: str, ours: File, mode: int,
                   text: TextResult) -> FileOutcome:
        if self.options.merge is None:
            return FileOutcome(target, Status.CONFLICT, text.hunks, "does not apply")
        base: bytes | None
        theirs: bytes | None
        recorded = self._recorded(file)
        how = "recorded base"
        if recorded is not None and recorded[1] is not None:
            base, theirs = recorded
        else:
            base, theirs, how = self._base_from_index(file)
        if theirs is None:
            base = b"".join(force_hunks(ours.content.lines, file.hunks, text.hunks, "before"))
            theirs = b"".join(force_hunks(ours.content.lines, file.hunks, text.hunks, "after"))
            how = "no base: hunks placed where the patch says"
        return self._merge(file, target, base, ours, File.of(mode, theirs), mode, text.hunks,
                           f"3-way merge ({how})", source=source,
                           trusted=not how.startswith("no base"))

    def _base_from_index(self, file: FilePatch) -> tuple[bytes | None, bytes | None, str]:
        if self.options.find_blob is None or not file.old_oid:
            return None, None, ""
        base = self.options.find_blob(file.old_oid)
        if base is None:
            return None, None, ""
        result = apply_hunks(split_lines(base), file.hunks)
        if result.failed or result.lines is None:
            return None, None, ""
        return base, b"".join(result.lines), f"preimage {file.old_oid}"

    def _merge(self, file: FilePatch, target: str, base: bytes | None, ours: File, theirs: File,
               mode: int, hunks: tuple[HunkResult, ...], how: str, source: str | None = None,
               trusted: bool = True) -> FileOutcome:
        if self.options.merge is None:
            return FileOutcome(target, Status.CONFLICT, hunks, how)
        from sync.series.resolve.conflicts import Settled

        merged = self.options.merge(target, base, ours.content.data, theirs.content.data, mode)
        settled = merged if isinstance(merged, Settled) else Settled(merged.clean, merged.content)
        if not trusted and settled.unresolved is not None:
            # a base made up from the patch's line numbers proves nothing: no rule resolves
            settled = Settled(False, settled.unresolved)
        result = File.of(mode, settled.content)
        if settled.rules:
            self.rules[target] = ", ".join(settled.rules)
            how += f"; resolved by rule {self.rules[target]}" if settled.clean else ""
        if settled.clean:
            if source is not None:
                self._write(file, source, target, result)
            else:
                self.pending[target] = result
            if settled.content == ours.content.data and mode == ours.mode:
                return self._note(FileOutcome(target, Status.ALREADY_UPSTREAM, hunks,
                                              how + ": upstream already has the change"),
                                  file.hunks)
            return self._note(FileOutcome(target, Status.MERGED, hunks, how), file.hunks)
        if source is not None and file.change is Change.RENAME and source != target:
            self.pending[source] = None
        reason = (f"{settled.reason} (rule {self.rules[target]})" if settled.reason
                  else "conflicting changes")
        return self._conflict(Conflict(target, base=File.of(ours.mode, base) if base is not None
                                       else None, ours=ours, theirs=theirs, merged=result,
                                       reason=reason), hunks)

    def _recorded(self, file: FilePatch) -> tuple[bytes | None, bytes | None] | None:
        return self.options.recorded(file) if self.options.recorded is not None else None

    # --- bookkeeping -------------------------------------------------------------------------
    def _conflict(self, conflict: Conflict, hunks: tuple[HunkResult, ...] = ()) -> FileOutcome:
        if self.options.merge is not None:
            self.conflicts.append(conflict)
            if conflict.merged is not None or conflict.ours is not None:
                self.pending[conflict.path] = conflict.merged
        outcome = FileOutcome(conflict.path, Status.CONFLICT, hunks, conflict.reason)
        self.evidence.append(f"{conflict.path}: {conflict.reason}")
        file = next((f for f in self.patch.files if conflict.path in (
            f.path, self.followed.get(f.old_path or ""))), None)
        for result in hunks:
            if file is not None and result.landing is Landing.FAILED:
                described = result.describe(file.hunks[result.index])
                self.evidence.append(f"{conflict.path}: {described}")
        return outcome

    def _note(self, outcome: FileOutcome, hunks: Sequence[Hunk] = ()) -> FileOutcome:
        if outcome.note:
            self.evidence.append(f"{outcome.path}: {outcome.note}")
        for result in outcome.hunks:
            if result.landing is not Landing.APPLIED or result.offset or result.fuzz:
                self.evidence.append(f"{outcome.path}: {result.describe(hunks[result.index])}")
        return outcome


def _id_of(file: File) -> str:
    """The blob id of ``file``: known for stored files, else hashed from its bytes."""
    return file.oid if file.oid is not None else blob_id(file.content.data)


def _full(oid: str | None) -> str | None:
    return oid.lower() if oid is not None and len(oid) == 40 and set(oid) != {"0"} else None
