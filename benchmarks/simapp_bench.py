"""The simapp-scale rebase benchmark: `sync rebase-patches` against `git am -3` and `quilt push -a`.

Run through ``python benchmarks/rebase.py --scale simapp [--size F] [--cases a,b]``. The tree,
the series and the upstream releases come from ``simapp_case`` (deterministic); everything is
built in a temporary folder, never in the repository. Cases (each on the same input for the
three tools, in the same run):

- ``conflicts``: the per-file series onto a release that stops it twice (~30% and ~95% of the
  series); each stop is resolved with the patch's side, then ``--continue`` (``git am
  --continue``); every call is timed on its own, each ``--continue`` as the median of
  ``REPEATS`` runs on replicas of the stop (one call under a second is at the mercy of a
  noisy machine: both tools get the same treatment);
- ``wide``: the per-file series onto a release that changed ~17% of the files, no conflicts;
- ``grouped``: the same changes as 9 mails onto a release that already has 20 of the big
  mail's files: the series is refreshed;
- ``initial``: the per-file series onto its own base, the target folder empty: the whole
  tree is written (``git am`` first checks the upstream branch out; that is timed with it).

Every tool starts alike (``settle``): the last one's folder removed, the disk synced, the shared
inputs read once, and no tool runs within ``RECENTLY_DELETED`` seconds of a removal. ext4 passes
over every inode deleted in the last 5 s (35 s while its inode table block is dirty) each time
it allocates one (``recently_deleted`` in ``find_inode_bit``): removing one tool's ~4,000 files
just before the next tool ran made that tool pay for it, about half of the time spent writing a
tree under ``perf``. It fell on sync's calls and on ``git am``'s checkout, never on the ``git
am`` call itself. The replicas of a stop are kept until the run ends (hard links: little to
keep).

Each call runs in a fresh process (``measure.py``): wall seconds, peak RSS, and for sync the
longest stretch without a progress update (from the start, between updates, to the exit) and
the seconds from the last update to the exit. Results are checked file by file against the
expected tree. Not a test: nothing asserts.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from sync.git.diff import diff_text
from sync.git.objects import ObjectWriter
from sync.git.trees import Entry, update_tree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simapp_case import Change, SimappCase, make_case  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEASURE = str(HERE / "measure.py")
MANIFEST = ("image: bench.local/deepracer-sim-public\ntag: v1\nplatform: linux/amd64\n"
            "branch: upstream\npaths:\n  - source: /opt/amazon\n    target: bundle\n")
ENV = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
       "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1", "QUILT_PATCHES": "patches",
       "QUILT_PC": ".pc", "PYTHONPATH": str(ROOT)}
CASES = ("conflicts", "wide", "grouped", "initial")
RECENTLY_DELETED = 6  # s: ext4 avoids (and scans past) inodes freed this recently (5 s)
REPEATS = 3  # each --continue is timed this many times, on replicas of the stop (the median)
WHO = pygit2.Signature("Upstream", "upstream@example.com", 1700000000, 0)


@dataclass
class Call:
    seconds: float
    peak: int  # bytes
    gap: float | None = None  # longest stretch without progress (sync only)
    tail: float | None = None  # last progress update -> exit (sync only)
    note: str = ""


@dataclass
class ToolRun:
    tool: str
    calls: list[Call] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def seconds(self) -> float:
        return sum(call.seconds for call in self.calls)

    @property
    def peak(self) -> int:
        return max((call.peak for call in self.calls), default=0)


# --- building the repositories -----------------------------------------------------------------
def _header(subject: str) -> bytes:
    return ("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            "From: Dev <dev@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
            f"Subject: [PATCH] {subject}\n\n{subject}.\n---\n").encode()


class Built:
    """The shared object database: v1, the releases, the three main commits, the mails."""

    def __init__(self, workdir: Path, case: SimappCase) -> None:
        self.path = workdir / "objects.git"
        self.repo = pygit2.init_repository(str(self.path), bare=True)
        self.case = case
        with ObjectWriter(self.repo) as writer:
            self.ids = {}
            for files in (case.v1, case.main, *(r.files for r in case.releases.values())):
                for data in files.values():
                    key = id(data)
                    if key not in self.ids:
                        self.ids[key] = writer.write_bytes(data)
        self.per_file = [(change.name, self._mail(change.name.removesuffix(".patch"),
                                                  [change])) for change in case.changes]
        self.grouped = [(f"{number:04d}-group-{number}.patch",
                         self._mail(f"group {number}", [case.changes[k] for k in group]))
                        for number, group in enumerate(case.groups, 1)]
        self.v1 = self._commit("upstream-v1", case.v1, [])
        for release in case.releases.values():
            self._commit(f"release-{release.name}", release.files, [self.v1])
        self._commit("main-perfile", case.main, [], self.per_file)
        self._commit("main-grouped", case.main, [], self.grouped)
        self._commit("main-initial", {}, [], self.per_file)

    def _entry(self, data: bytes) -> Entry:
        return Entry(0o100644, self.ids[id(data)])

    def _mail(self, subject: str, changes: list[Change]) -> bytes:
        before = {c.path: self._entry(c.before) if c.before is not None else None
                  for c in changes}
        after = {c.path: self._entry(c.after) if c.after is not None else None for c in changes}
        return _header(subject) + diff_text(self.repo, before, after)

    def _commit(self, ref: str, files: dict[str, bytes], parents: list[str],
                mails: list[tuple[str, bytes]] | None = None) -> str:
        entries: dict[str, Entry | None] = {p: self._entry(d) for p, d in files.items()}
        if mails is not None:
            blob = self.repo.create_blob
            entries["upstream-manifest.yaml"] = Entry(0o100644, str(blob(MANIFEST.encode())))
            for name, text in mails:
                entries[f"patches/{name}"] = Entry(0o100644, str(blob(text)))
            series = f"# upstream: {self.v1}\n" + "".join(f"{n}\n" for n, _ in mails)
            entries["patches/series"] = Entry(0o100644, str(blob(series.encode())))
        tree = update_tree(self.repo, None, entries)
        return str(self.repo.create_commit(f"refs/heads/{ref}", WHO, WHO, ref,
                                           pygit2.Oid(hex=tree),
                                           [pygit2.Oid(hex=p) for p in parents]))


def git(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                            env={**os.environ, **ENV}, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {result.stderr.decode()[-500:]}")
    return result


def clone(built: Built, folder: Path, branch: str) -> None:
    git(built.path.parent, "clone", "-q", "--shared", "--no-checkout", str(built.path),
        str(folder))
    git(folder, "checkout", "-q", "-b", "bench", f"origin/{branch}")
    time.sleep(1.1)  # index newer than every file: no racily clean entry re-hashed later
    git(folder, "update-index", "-q", "--refresh", check=False)


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        full = folder / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)


def wrong_files(folder: Path, truth: dict[str, bytes]) -> list[str]:
    found = set()
    wrong = []
    for dirpath, _dirs, names in os.walk(folder / "bundle"):
        for name in names:
            if name.endswith((".orig", ".rej")):
                continue
            path = (Path(dirpath) / name).relative_to(folder).as_posix()
            found.add(path)
            if truth.get(path) != (Path(dirpath) / name).read_bytes():
                wrong.append(path)
    return sorted(wrong + [path for path in truth if path not in found])


def measure(out: Path, *argv: str, cwd: Path | None = None) -> tuple[Call, dict[str, object]]:
    started = time.time()
    result = subprocess.run([sys.executable, MEASURE, str(out), *argv], capture_output=True,
                            env={**os.environ, **ENV}, cwd=cwd, check=False)
    ended = time.time()
    data = json.loads(out.read_text()) if out.exists() else {"peak": 0}
    data["stdout"] = result.stdout.decode("utf-8", "replace")
    data["stderr"] = result.stderr.decode("utf-8", "replace")
    data["exit"] = result.returncode
    call = Call(float(data.get("seconds", ended - started)), int(data["peak"]))
    events = data.get("events")
    if isinstance(events, list):
        marks = [started, *events, ended]
        call.gap = max(b - a for a, b in zip(marks, marks[1:], strict=False))
        call.tail = ended - (events[-1] if events else started)
    return call, data


_replicas = itertools.count(1)


def settle(*inputs: Path) -> None:
    """Let every tool start alike: the last one's writes and removals on disk and older than
    ext4's window for recently deleted inodes, and the shared inputs (the object database, the
    mails) read once, so that none pays for reading back what the machine paged out while
    another ran (this VM drops page cache left idle for a minute)."""
    os.sync()  # the inode table blocks are clean: the window is 5 s, not 35
    synced = time.monotonic()
    for top in inputs:
        for where, _folders, names in os.walk(top):
            for name in names:
                with open(os.path.join(where, name), "rb") as file:
                    while file.read(1 << 20):
                        pass
    time.sleep(max(0.0, RECENTLY_DELETED - (time.monotonic() - synced)))


def measure_continue(out: Path, folder: Path, *argv: str) -> tuple[Call, dict[str, object]]:
    """Time a ``--continue`` (either tool's) on the stopped checkout and on ``REPEATS - 1``
    replicas of it: the call's seconds are the median, its peak the largest.

    A late ``--continue`` takes under a second, and on a shared machine one call can take 30%
    more than the next: one sample decides nothing. Each replica is made just before it is timed
    (``replicate``); the original runs last, and its outcome is the one the run goes on with."""
    git(folder, "config", "core.trustctime", "false")  # a hard link changes the files' ctime
    samples: list[Call] = []
    exits: set[int] = set()
    for _ in range(REPEATS - 1):
        replica = folder.with_name(f"{folder.name}-replica-{next(_replicas)}")  # kept: see above
        replicate(folder, replica)
        sample, data = measure(out, *[arg.replace(str(folder), str(replica)) for arg in argv])
        samples.append(sample)
        exits.add(int(data["exit"]))  # type: ignore[call-overload]
    os.sync()
    call, data = measure(out, *argv)
    if exits - {data["exit"]}:
        raise SystemExit(f"{' '.join(argv)}: exit {data['exit']}, but {sorted(exits)} on a "
                         "replica of the same stop")
    samples.append(call)
    call.seconds = statistics.median(sample.seconds for sample in samples)
    call.peak = max(sample.peak for sample in samples)
    return call, data


def replicate(folder: Path, replica: Path) -> None:
    """A copy of a checkout to run a call in: the work tree and the objects hard-linked (no tool
    here writes into a file: each replaces it), the rest of ``.git`` copied (git rewrites some of
    its own files in place), modification times kept; then the disk is let settle."""
    replica.mkdir()
    linked = [str(entry) for entry in folder.iterdir() if entry.name != ".git"]
    if linked:  # (nothing is removed here either: see the module's notes)
        subprocess.run(["cp", "-al", *linked, str(replica)], check=True)
    shutil.copytree(folder / ".git", replica / ".git", symlinks=True,
                    ignore=lambda where, _names: ["objects"] if where == str(folder / ".git")
                    else [])
    subprocess.run(["cp", "-al", str(folder / ".git" / "objects"), str(replica / ".git")],
                   check=True)
    os.sync()


# --- the tools ---------------------------------------------------------------------------------
def run_sync(built: Built, folder: Path, main: str, release: str, truth: dict[str, bytes]
             ) -> ToolRun:
    run = ToolRun("sync rebase-patches")
    clone(built, folder, main)
    git(folder, "branch", "-f", "upstream", f"origin/{release}")
    if main == "main-initial":
        (folder / "bundle").mkdir()
    command = ["sync", "rebase-patches", "--json", "-C", str(folder)]
    out = folder.parent / "measure.json"
    call, data = measure(out, *command)
    run.calls.append(call)
    while data["exit"] == 1:
        document = json.loads(str(data["stdout"]) or "{}")
        if not document.get("stopped_at"):
            break  # an error, not a stop: reported below
        call.note = f"stopped at {document.get('stopped_at')}"
        for path in document["conflicts"]:
            (folder / path).write_bytes(truth[path])
        git(folder, "add", "--", *document["conflicts"])  # marked resolved, as git wants
        call, data = measure_continue(out, folder, *command, "--continue")
        run.calls.append(call)
    if data["exit"] != 0:
        run.note = f"exit {data['exit']}: {str(data['stderr'])[-300:]}"
    else:
        document = json.loads(str(data["stdout"]))
        statuses: dict[str, int] = {}
        for row in document["patches"]:
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        run.note = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + \
            f"; {len(document['rewritten'])} rewritten"
    run.wrong = wrong_files(folder, truth)
    return run


def run_am(built: Built, folder: Path, mails: Path, release: str, truth: dict[str, bytes],
           initial: bool) -> ToolRun:
    run = ToolRun("git am -3")
    git(built.path.parent, "clone", "-q", "--shared", "--no-checkout", str(built.path),
        str(folder))
    out = folder.parent / "measure.json"
    checkout = ["git", "-C", str(folder), "checkout", "-q", "-b", "bench", f"origin/{release}"]
    if initial:
        call, _ = measure(out, "exec", *checkout)
        call.note = "checkout"
        run.calls.append(call)
    else:
        git(folder, *checkout[3:])
        time.sleep(1.1)
        git(folder, "update-index", "-q", "--refresh", check=False)
    names = sorted(path.name for path in mails.iterdir())
    call, data = measure(out, "exec", "git", "-C", str(folder), "am", "-3", "-q",
                         *[str(mails / name) for name in names])
    run.calls.append(call)
    while data["exit"] != 0 and (folder / ".git" / "rebase-apply").exists():
        unmerged = git(folder, "diff", "--name-only", "--diff-filter=U").stdout.decode().split()
        call.note = f"stopped: {' '.join(unmerged) or 'no conflict file'}"
        if not unmerged:
            call, data = measure(out, "exec", "git", "-C", str(folder), "am", "--skip")
        else:
            for path in unmerged:
                (folder / path).write_bytes(truth[path])
            git(folder, "add", "--", *unmerged)
            call, data = measure_continue(out, folder, "exec", "git", "-C", str(folder), "am",
                                          "--continue")
        run.calls.append(call)
    if data["exit"] != 0:
        run.note = f"exit {data['exit']}"
    run.wrong = wrong_files(folder, truth)
    return run


def run_quilt(folder: Path, mails: Path, release: dict[str, bytes], truth: dict[str, bytes],
              stops: list[str], case: SimappCase) -> ToolRun:
    run = ToolRun("quilt push -a")
    write_tree(folder, release)
    shutil.copytree(mails, folder / "patches")
    binary_only = [path.name for path in sorted(mails.iterdir())
                   if b"\nGIT binary patch\n" in path.read_bytes()
                   and b"\n@@ -" not in path.read_bytes()]
    (folder / "patches" / "series").write_text(
        "".join(f"{path.name}\n" for path in sorted(mails.iterdir())
                if path.name not in binary_only))
    fixes = []
    by_name = {change.name: change for change in case.changes}
    for name in stops:
        change = by_name[name]
        resolution = folder.parent / f"resolution-{name}"
        resolution.write_bytes(truth[change.path])
        fixes.append(f"{name}={change.path}:{resolution}")
    call, data = measure(folder.parent / "measure.json", "quilt", str(folder), ",".join(fixes),
                         cwd=folder)
    call.note = f"{data.get('calls')} quilt calls, {data.get('removed')} patches taken out"
    run.calls.append(call)
    run.wrong = wrong_files(folder, truth)
    run.note = (f"GNU patch refuses git binary patches: the {len(binary_only)} binary-only "
                "mails are left out of the series, others that fail are taken out as it goes")
    return run


# --- the cases ---------------------------------------------------------------------------------
def run_case(name: str, built: Built, workdir: Path) -> list[ToolRun]:
    case = built.case
    grouped = name == "grouped"
    release = case.releases.get(name)
    files = release.files if release is not None else case.v1
    truth = release.truth if release is not None else case.main
    stops = release.conflicts if release is not None else []
    mails = workdir / ("mails-grouped" if grouped else "mails")
    if not mails.exists():
        mails.mkdir()
        for mail_name, text in (built.grouped if grouped else built.per_file):
            (mails / mail_name).write_bytes(text)
    release_ref = f"release-{name}" if release is not None else "upstream-v1"
    main = "main-grouped" if grouped else "main-initial" if name == "initial" else "main-perfile"
    runs = []
    folder = workdir / name
    folder.mkdir()
    for tool in ("sync", "am", "quilt"):
        target = folder / tool
        settle(built.path, mails)
        if tool == "sync":
            runs.append(run_sync(built, target, main, release_ref, truth))
        elif tool == "am":
            runs.append(run_am(built, target, mails, release_ref, truth, name == "initial"))
        else:
            runs.append(run_quilt(target, mails, files, truth, stops, case))
        for kept in folder.iterdir():  # this tool's folder; its replicas stay (see above)
            if "-replica-" not in kept.name:
                shutil.rmtree(kept, ignore_errors=True)
    return runs


def report(name: str, note: str, runs: list[ToolRun]) -> list[str]:
    mb = 1 << 20
    lines = [f"case {name}: {note}",
             f"  {'tool':20} {'seconds per call':28} {'total':>7} {'peak MB':>8} "
             f"{'max gap':>8} {'last->exit':>10} {'wrong files':>11}"]
    for run in runs:
        per_call = " | ".join(f"{call.seconds:.1f}" for call in run.calls)
        gap = max((call.gap or 0 for call in run.calls), default=0)
        tail = max((call.tail or 0 for call in run.calls), default=0)
        has = run.tool.startswith("sync")
        lines.append(f"  {run.tool:20} {per_call:28} {run.seconds:7.1f} {run.peak / mb:8.0f} "
                     f"{f'{gap:.1f}' if has else '-':>8} {f'{tail:.1f}' if has else '-':>10} "
                     f"{len(run.wrong):11d}")
    if any(len(run.calls) > 1 and run.calls[0].note != "checkout" for run in runs[:2]):
        lines.append(f"  (each --continue: the median of {REPEATS} runs, on replicas of the stop)")
    ours, am = runs[0], runs[1]
    ratios = " | ".join(f"{a.seconds / max(b.seconds, 1e-9):.2f}"
                        for a, b in zip(ours.calls, am.calls[-len(ours.calls):], strict=False))
    lines.append(f"  sync / git am -3: per call {ratios}; total "
                 f"{ours.seconds / max(am.seconds, 1e-9):.2f}x; sync / quilt total "
                 f"{ours.seconds / max(runs[2].seconds, 1e-9):.2f}x")
    for run in runs:
        details = "; ".join(filter(None, [run.note] + [c.note for c in run.calls]))
        if details:
            lines.append(f"    {run.tool}: {details}")
        if run.wrong:
            lines.append(f"    {run.tool}: wrong: {', '.join(run.wrong[:3])}"
                         + (f" and {len(run.wrong) - 3} more" if len(run.wrong) > 3 else ""))
    return lines


def main(workdir: Path, seed: int, size: float, cases: list[str]) -> None:
    started = time.perf_counter()
    # measured as installed (pip compiles the byte code once), not recompiled at every call
    # when PYTHONDONTWRITEBYTECODE is set: the caches go to the temporary folder, filled by one
    # untimed call that imports every command
    ENV.update(PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    measure(workdir / "warm.json", "sync", "--help")
    case = make_case(seed, size)
    built = Built(workdir, case)
    tree_mb = sum(len(data) for data in case.v1.values()) / 1e6
    series_mb = sum(len(text) for _, text in built.per_file) / 1e6
    binary = sum(1 for c in case.changes if "binary" in c.kind)
    print(f"simapp-scale case (seed {seed}, size {size}): {len(case.v1)} files, {tree_mb:.0f} MB; "
          f"series {len(built.per_file)} mails ({binary} binary), {series_mb:.0f} MB; grouped "
          f"{len(built.grouped)} mails (largest {max(len(t) for _, t in built.grouped) / 1e6:.0f}"
          f" MB); built in {time.perf_counter() - started:.0f} s", flush=True)
    for name in cases:
        begun = time.perf_counter()
        runs = run_case(name, built, workdir)
        release = case.releases.get(name)
        note = release.note if release is not None else "onto its own base, empty target folder"
        print("\n".join(report(name, note, runs)), flush=True)
        print(f"  ({time.perf_counter() - begun:.0f} s for the case)", flush=True)
    print(f"whole run {time.perf_counter() - started:.0f} s")
