"""Benchmark `sync rebase-patches` against `quilt push -a` and `git am -3` on a simapp-scale case.

    python benchmarks/rebase.py [--files 5000] [--patches 900] [--seed 7] [--renamed 1]
                                [--workdir DIR] [--keep]
    python benchmarks/rebase.py --scale simapp [--size 1.0] [--cases conflicts,wide,...]

``--scale simapp`` runs the binary-heavy, real-scale cases of ``simapp_bench.py`` instead (a
~790 MB tree, a 900-mail series of ~180 MB); what follows describes the small case, the default.

Builds, in a temporary folder (removed at the end unless --keep):

- upstream v1: ``--files`` Python-like files of 100-400 lines under bundle/;
- a series of ``--patches`` git format-patch mails, each changing one file in 4 hunks (5 lines
  replaced, 1 added: about 44 changed lines a patch, 40,000 for 900), committed on main with the
  work tree = v1 + series and ``# upstream: v1`` in patches/series;
- upstream v2, moved realistically: lines inserted at the top of patched files (offsets), lines
  edited far from the patched lines and right next to them (inside a hunk's context: exact
  apply fails, fuzz or a 3-way merge is needed), some patched files renamed, some patches
  already upstream, unpatched files edited, renamed and deleted, new files.

Every file's correct result is known by construction (upstream's and the patch's edits touch
different lines of the original), so each tool's output is checked file by file. On the same
input, in the same run, it times:

1. ``python -m sync rebase-patches`` (``--skip`` at each conflict);
2. ``quilt push -a`` with its default fuzz (at each failure the patch is removed from the
   series with ``quilt delete`` and the push goes on);
3. ``git am -3`` (``git am --skip`` at each conflict);

and prints time, patches landed, conflicts and misapplied files for each, and the ratios. Not a
test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pygit2  # noqa: E402

from sync.git.diff import diff_text  # noqa: E402
from sync.git.trees import Entry, update_tree, write_blob  # noqa: E402

MANIFEST = """\
image: bench.local/deepracer-sim-public
tag: v1
platform: linux/amd64
branch: upstream
paths:
  - source: /opt/amazon
    target: bundle
"""
ENV = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
       "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1", "QUILT_PATCHES": "patches",
       "QUILT_PC": ".pc"}
WORDS = ("alpha", "beta", "gamma", "delta", "self", "return", "import", "if", "else", "for",
         "x", "y", "None", "True")
HUNKS = 4
SPAN = 5  # lines replaced by each hunk (one more is added)


# --- the case ----------------------------------------------------------------------------------
@dataclass
class PlannedFile:
    """One original file, the patch's edits and upstream's, on the original's line numbers."""

    lines: list[bytes]
    spots: list[int] = field(default_factory=list)  # patched regions [at, at+SPAN)
    patch: int = 0  # 1-based number of the patch changing it (0: none)
    header: int = 0  # lines upstream inserts at the top
    tweaks: dict[int, bytes] = field(default_factory=dict)  # upstream's edited lines
    absorbed: bool = False  # upstream contains the patch's change

    def render(self, patched: bool, upstream: bool) -> bytes:
        out = [b"# upstream header %d\n" % k for k in range(self.header)] if upstream else []
        regions = {at: spot for spot, at in enumerate(self.spots)}
        index = 0
        while index < len(self.lines):
            if index in regions and (patched or (upstream and self.absorbed)):
                spot = regions[index]
                out += [b"    patched %d %d %d\n" % (self.patch, spot, k) for k in range(SPAN)]
                out.append(b"    added %d %d\n" % (self.patch, spot))
                index += SPAN
                continue
            out.append(self.tweaks[index] if upstream and index in self.tweaks
                       else self.lines[index])
            index += 1
        return b"".join(out)


@dataclass
class Case:
    v1: dict[str, bytes]
    main: dict[str, bytes]  # v1 + series
    v2: dict[str, bytes]
    truth: dict[str, bytes]  # v2 + series, by construction
    skipped_truth: dict[str, dict[str, bytes | None]]  # patch name -> its paths as in v2
    mails: list[tuple[str, bytes]]
    moves: dict[str, int]


def make_case(repo: pygit2.Repository, files: int, patches: int, seed: int,
              renamed_share: float = 0.01) -> Case:
    rng = random.Random(seed)
    plans: dict[str, PlannedFile] = {}
    for number in range(files):
        count = rng.randint(100, 400)
        lines = [(b"def f_%d_%d(): %s %s %d\n" % (number, k, rng.choice(WORDS).encode(),
                                                  rng.choice(WORDS).encode(), k))
                 if k % 7 else b"\n" for k in range(count)]
        plans[f"bundle/pkg{number % 50}/sub{number % 7}/mod_{number}.py"] = PlannedFile(lines)
    paths = sorted(plans)
    patched = rng.sample(paths, min(patches, len(paths)))
    moves = {"offset": 0, "far": 0, "near": 0, "renamed": 0, "absorbed": 0}
    renamed: dict[str, str] = {}
    for number, path in enumerate(patched, 1):
        plan = plans[path]
        plan.patch = number
        segment = (len(plan.lines) - 16) // HUNKS  # one hunk in each quarter, 11+ lines apart
        plan.spots = [8 + part * segment + rng.randint(0, segment - SPAN - 11)
                      for part in range(HUNKS)]
        roll = rng.random()
        if roll < 0.30:
            plan.header = rng.randint(1, 30)
            moves["offset"] += 1
        if 0.30 <= roll < 0.55 or roll < 0.10:
            far = _far_line(rng, plan)
            if far is not None:
                plan.tweaks[far] = plan.lines[far].rstrip(b"\n") + b"  # upstream far\n"
                moves["far"] += 1
        if 0.55 <= roll < 0.70:  # the line just above a hunk's first context line... inside it
            at = rng.choice(plan.spots) - 2
            plan.tweaks[at] = plan.lines[at].rstrip(b"\n") + b"  # upstream near\n"
            moves["near"] += 1
        if 0.70 <= roll < 0.71:
            plan.absorbed = True
            moves["absorbed"] += 1
        if 0.71 <= roll < 0.71 + renamed_share:
            renamed[path] = path.replace("mod_", "moved_")
            moves["renamed"] += 1
    v1 = {path: b"".join(plan.lines) for path, plan in plans.items()}
    main = {path: plan.render(True, False) for path, plan in plans.items()}
    v2 = {renamed.get(path, path): plan.render(False, True) for path, plan in plans.items()}
    truth = {renamed.get(path, path): plan.render(True, True) for path, plan in plans.items()}
    unpatched = [path for path in paths if not plans[path].patch]
    for path in rng.sample(unpatched, min(len(unpatched) // 10, 300)):  # upstream edits
        plan = plans[path]
        at = rng.randrange(len(plan.lines))
        plan.tweaks[at] = b"# upstream edit\n"
        v2[path] = truth[path] = plan.render(False, True)
    for path in rng.sample(unpatched, min(len(unpatched) // 100, 40)):
        moved = path.replace("mod_", "renamed_")
        v2[moved] = truth[moved] = v2.pop(path)
        truth.pop(path)
    for path in rng.sample([p for p in unpatched if p in v2], min(len(unpatched) // 100, 40)):
        v2.pop(path)
        truth.pop(path)
    for number in range(20):
        v2[f"bundle/new/file_{number}.py"] = truth[f"bundle/new/file_{number}.py"] = \
            b"new %d\n" % number
    moves["upstream edits elsewhere"] = min(len(unpatched) // 10, 300)
    mails: list[tuple[str, bytes]] = []
    skipped_truth: dict[str, dict[str, bytes | None]] = {}
    for path in patched:
        plan = plans[path]
        name = f"{plan.patch:04d}-change-{plan.patch}.patch"
        diff = diff_text(repo, {path: Entry(0o100644, write_blob(repo, v1[path]))},
                         {path: Entry(0o100644, write_blob(repo, main[path]))})
        header = ("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
                  "From: Dev <dev@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                  f"Subject: [PATCH] change {plan.patch}\n\nBody {plan.patch}.\n---\n")
        mails.append((name, header.encode() + diff))
        target = renamed.get(path, path)
        skipped_truth[name] = {target: v2[target]}
    mails.sort()
    return Case(v1, main, v2, truth, skipped_truth, mails, moves)


def _far_line(rng: random.Random, plan: PlannedFile) -> int | None:
    for _ in range(50):
        at = rng.randrange(len(plan.lines))
        if all(abs(at - spot) > SPAN + 10 for spot in plan.spots):
            return at
    return None


# --- setting it up -----------------------------------------------------------------------------
def git(path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["git", "-C", str(path), *args], capture_output=True,
                            env={**os.environ, **ENV}, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {result.stderr.decode()}")
    return result


def write_files(top: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        full = top / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)


def read_files(top: Path, root: str = "bundle") -> dict[str, bytes]:
    found = {}
    for dirpath, _dirs, names in os.walk(top / root):
        for name in names:
            full = Path(dirpath) / name
            if name.endswith((".orig", ".rej")):
                continue
            found[full.relative_to(top).as_posix()] = full.read_bytes()
    return found


def commit_files(repo: pygit2.Repository, files: dict[str, bytes], message: str) -> str:
    tree = update_tree(repo, None, {path: Entry(0o100644, write_blob(repo, data))
                                    for path, data in files.items()})
    ref = "refs/heads/upstream"
    parents = [repo.references[ref].target] if ref in repo.references else []
    who = pygit2.Signature("Upstream", "upstream@example.com", 1700000000, 0)
    return str(repo.create_commit(ref, who, who, message, pygit2.Oid(hex=tree), parents))


def setup(workdir: Path, args: argparse.Namespace) -> tuple[Case, Path]:
    top = workdir / "main"
    repo = pygit2.init_repository(str(top), initial_head="main")
    case = make_case(repo, args.files, args.patches, args.seed, args.renamed / 100)
    v1 = commit_files(repo, case.v1, "Upstream v1")
    write_files(top, case.main)
    (top / "upstream-manifest.yaml").write_text(MANIFEST)
    (top / "patches").mkdir()
    for name, text in case.mails:
        (top / "patches" / name).write_bytes(text)
    (top / "patches" / "series").write_text(
        f"# upstream: {v1}\n" + "".join(f"{name}\n" for name, _ in case.mails))
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "simapp: upstream v1 + series")
    commit_files(repo, case.v2, "Upstream v2")
    return case, top


# --- the tools ---------------------------------------------------------------------------------
@dataclass
class Run:
    tool: str
    seconds: float = 0.0
    landed: int = 0
    conflicts: list[str] = field(default_factory=list)
    misapplied: list[str] = field(default_factory=list)
    note: str = ""


def run_sync(top: Path, case: Case) -> tuple[Run, dict[str, bytes]]:
    run = Run("sync rebase-patches")
    command = [sys.executable, "-m", "sync", "rebase-patches", "--json", "-q", "-C", str(top)]
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, env=env, check=False)
    first = time.perf_counter() - started
    rows: dict[str, str] = {}
    while True:
        document = json.loads(result.stdout or b"{}")
        for row in document.get("patches", []):
            rows[row["name"]] = row["status"]
        if result.returncode != 1 or not document.get("stopped_at"):
            break
        run.conflicts.append(document["stopped_at"])
        result = subprocess.run([*command, "--skip"], capture_output=True, env=env, check=False)
    run.seconds = time.perf_counter() - started
    if result.returncode != 0:
        run.note = f"exit {result.returncode}: {result.stderr.decode()[-300:]}"
    run.landed = sum(1 for status in rows.values() if status not in ("conflict", "skipped"))
    statuses: dict[str, int] = {}
    for status in rows.values():
        statuses[status] = statuses.get(status, 0) + 1
    run.note = run.note or ", ".join(f"{count} {status}" for status, count in
                                     sorted(statuses.items()))
    if run.conflicts:
        run.note += (f"; first run (to the first conflict) {first:.2f} s, then "
                     f"{len(run.conflicts)} × --skip {run.seconds - first:.2f} s")
    return run, read_files(top)


def run_quilt(workdir: Path, top: Path, case: Case) -> tuple[Run, dict[str, bytes]]:
    run = Run("quilt push -a")
    folder = workdir / "quilt"
    write_files(folder, case.v2)
    shutil.copytree(top / "patches", folder / "patches")
    env = {**os.environ, **ENV}
    started = time.perf_counter()
    while True:
        result = subprocess.run(["quilt", "push", "-a", "-q"], cwd=folder, capture_output=True,
                                env=env, check=False)
        if result.returncode != 1:
            break
        failed = subprocess.run(["quilt", "next"], cwd=folder, capture_output=True, env=env,
                                check=False).stdout.decode().strip()
        if not failed:
            break
        run.conflicts.append(Path(failed).name)
        subprocess.run(["quilt", "delete", failed], cwd=folder, capture_output=True, env=env,
                       check=False)
    run.seconds = time.perf_counter() - started
    applied = subprocess.run(["quilt", "applied"], cwd=folder, capture_output=True, env=env,
                             check=False).stdout.decode().split()
    run.landed = len(applied)
    run.note = "fuzz 2 (patch's default); a failed or already-applied patch is removed and " \
               "the push goes on"
    return run, read_files(folder)


def run_git_am(workdir: Path, top: Path, case: Case) -> tuple[Run, dict[str, bytes]]:
    run = Run("git am -3")
    folder = workdir / "am"
    git(workdir, "clone", "-q", "--no-checkout", str(top), str(folder))
    git(folder, "checkout", "-q", "-b", "bench", "origin/upstream")
    mails = [str(top / "patches" / name) for name, _ in case.mails]
    started = time.perf_counter()
    result = git(folder, "am", "-3", "-q", *mails, check=False)
    while result.returncode != 0 and (folder / ".git" / "rebase-apply").exists():
        current = git(folder, "am", "--show-current-patch=raw", check=False).stdout
        subject = next((line for line in current.decode("utf-8", "replace").splitlines()
                        if line.startswith("Subject:")), "Subject: ?")
        run.conflicts.append(subject.removeprefix("Subject: [PATCH] "))
        git(folder, "checkout", "-q", "-f", "HEAD", "--", ".", check=False)
        result = git(folder, "am", "--skip", "-q", check=False)
    run.seconds = time.perf_counter() - started
    count = git(folder, "rev-list", "--count", "origin/upstream..HEAD").stdout.decode().strip()
    # a patch already upstream makes no commit ("No changes -- Patch already applied") but
    # landed all the same: every patch not skipped counts
    run.landed = len(case.mails) - len(run.conflicts)
    run.note = f"{count} commits; {run.landed - int(count)} patches found already applied"
    return run, read_files(folder)


def check(run: Run, result: dict[str, bytes], case: Case, skipped: Sequence[str]) -> None:
    """Compare with the truth; a skipped patch's files are expected as upstream has them."""
    expected = dict(case.truth)
    for name in skipped:
        for path, data in case.skipped_truth.get(name, {}).items():
            if data is None:
                expected.pop(path, None)
            else:
                expected[path] = data
    run.misapplied = sorted(path for path in expected.keys() | result.keys()
                            if expected.get(path) != result.get(path))


def quilt_names(run: Run, case: Case) -> list[str]:
    return run.conflicts


def am_names(run: Run, case: Case) -> list[str]:
    by_subject = {f"change {int(name[:4])}": name for name, _ in case.mails}
    return [by_subject.get(subject, subject) for subject in run.conflicts]


# --- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--patches", type=int, default=900)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--renamed", type=float, default=1.0, metavar="PERCENT",
                        help="share of patched files that upstream renames (default 1%%)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--scale", choices=("small", "simapp"), default="small",
                        help="small: the text-only case below (default); simapp: the "
                             "real-scale binary-heavy cases (simapp_bench.py)")
    parser.add_argument("--size", type=float, default=1.0,
                        help="simapp: scale the number of files and patches (default 1)")
    parser.add_argument("--cases", default="conflicts,wide,grouped,initial",
                        help="simapp: which cases, comma-separated")
    args = parser.parse_args()
    if args.scale == "simapp":
        run_simapp(args)
        return
    if args.patches > args.files:
        parser.error("--patches cannot exceed --files (one file a patch)")
    for tool in ("git", "quilt"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: the benchmark compares against it")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-rebase-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        case, top = setup(workdir, args)
        changed = sum(text.count(b"\n+") + text.count(b"\n-") - 2 for _, text in case.mails)
        print(f"case: {len(case.v1)} files, {len(case.mails)} patches, ~{changed} changed "
              f"lines; upstream moves: " + ", ".join(f"{v} {k}" for k, v in case.moves.items())
              + f" (built in {time.perf_counter() - started:.1f} s)")
        runs = []
        quilt, quilt_files = run_quilt(workdir, top, case)
        check(quilt, quilt_files, case, quilt_names(quilt, case))
        runs.append(quilt)
        am, am_files = run_git_am(workdir, top, case)
        check(am, am_files, case, am_names(am, case))
        runs.append(am)
        ours, our_files = run_sync(top, case)
        check(ours, our_files, case, ours.conflicts)
        runs.insert(0, ours)
        report(runs)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


def run_simapp(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import simapp_bench

    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = sorted(set(cases) - set(simapp_bench.CASES))
    if unknown:
        raise SystemExit(f"--cases: unknown {', '.join(unknown)} "
                         f"(known: {', '.join(simapp_bench.CASES)})")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-simapp-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        simapp_bench.main(workdir, args.seed, args.size, cases)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


def report(runs: list[Run]) -> None:
    print(f"{'tool':22} {'time':>9} {'landed':>7} {'conflicts':>9} {'misapplied':>10}")
    for run in runs:
        print(f"{run.tool:22} {run.seconds:8.2f}s {run.landed:7d} {len(run.conflicts):9d} "
              f"{len(run.misapplied):10d}")
    for run in runs:
        if run.misapplied:
            print(f"  {run.tool}: misapplied or wrong: {', '.join(run.misapplied[:5])}"
                  + (f" and {len(run.misapplied) - 5} more" if len(run.misapplied) > 5 else ""))
        if run.conflicts:
            print(f"  {run.tool}: conflicts: {', '.join(run.conflicts[:8])}"
                  + (" ..." if len(run.conflicts) > 8 else ""))
        if run.note:
            print(f"  {run.tool}: {run.note}")
    ours = runs[0]
    for other in runs[1:]:
        print(f"{other.tool} / sync: {other.seconds / max(ours.seconds, 1e-9):.1f}x slower; "
              f"sync lands {ours.landed - other.landed:+d} patches")


if __name__ == "__main__":
    main()
