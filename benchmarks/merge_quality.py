"""Merge quality of `sync rebase-patches` on real rebases, next to `git am -3` and quilt.

    python benchmarks/merge_quality.py --corpus DIR [--packages a,b] [--workdir DIR] [--keep]
                                       [--script PATH] [--json FILE] [--jobs N]

DIR is a corpus built by the Debian rebase corpus script (``debian-rebase.py build --out DIR``,
see its README): per package, the old and new upstream trees, the old patch series and the
maintainer's refreshed result (``truth/``). For every case this drives the tool itself, as a
maintainer would, in a throw-away repository under ``--workdir`` (default: a temporary folder,
removed at the end unless --keep; never inside this repository):

1. the old and new upstream trees become two ``docker-archive:`` images (one uncompressed layer,
   the tree under ``/src``, mapped to the target ``src``);
2. ``python -m sync pull`` of the old image; the case's series goes into ``patches/`` (each
   patch's paths moved under ``src/``, ``# upstream:`` the pulled commit); ``rebase-patches``
   writes upstream + series; commit;
3. ``pull`` of the new image; ``rebase-patches``, resolving nothing: at each conflict
   ``--skip`` (one attempt per patch, as the corpus's reference tools get).

Each judged file is then scored with the corpus README's rules: manual (a patch touching it
conflicted), identical (byte-identical to truth), misapplied (every patch touching it landed
without a conflict and the result differs: a wrong merge), differs (edited) (the same, but the
maintainer changed the patch's meaning). The corpus script's own ``baseline`` (``git am -3``
and ``quilt push --fuzz=0``) runs on the same cases in the same run, and one table shows all
three. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCRIPT = ROOT.parent / "shared" / "corpus" / "debian-rebase.py"
TARGET = "src"
ENV = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
       "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1", "LC_ALL": "C"}
MANIFEST = """\
image: corpus.local/{package}
tag: {tag}
platform: linux/amd64
branch: upstream
paths:
  - source: /src
    target: {target}
"""
TOOL = "sync rebase-patches"


# --- the images ----------------------------------------------------------------------------------
def write_docker_archive(tree: Path, path: Path, tag: str) -> None:
    """``tree`` as a one-layer ``docker save`` archive, the tree under ``/src``."""
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=".image-"))
    try:
        layer = staging / "layer.tar"

        def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            return info

        with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(tree, arcname=TARGET, filter=clean)
        diff_id = "sha256:" + _file_digest(layer)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "created": "2026-01-01T00:00:00Z",
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                             "config": {}}).encode()
        config_name = sha256(config).hexdigest() + ".json"
        (staging / config_name).write_bytes(config)
        (staging / "manifest.json").write_text(json.dumps(
            [{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}]))
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            for name in ("manifest.json", config_name, "layer.tar"):
                tar.add(staging / name, arcname=name, filter=clean)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _file_digest(path: Path) -> str:
    digest = sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- the series ----------------------------------------------------------------------------------
_HUNK = re.compile(rb"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def move_under_target(text: bytes) -> bytes:
    """A -p1 patch's file names moved one folder down, under ``TARGET`` (headers only)."""
    out = []
    lines = text.splitlines(keepends=True)
    old_left = new_left = 0
    for number, line in enumerate(lines):
        if old_left > 0 or new_left > 0:  # inside a hunk: body lines are never headers
            tag = line[:1]
            if tag in (b" ", b"\n", b"\r"):
                old_left, new_left = old_left - 1, new_left - 1
            elif tag == b"-":
                old_left -= 1
            elif tag == b"+":
                new_left -= 1
            out.append(line)
            continue
        match = _HUNK.match(line)
        following = lines[number + 1] if number + 1 < len(lines) else b""
        if match:
            old_left = int(match.group(1) or b"1")
            new_left = int(match.group(2) or b"1")
        elif line.startswith(b"--- ") and following.startswith(b"+++ "):
            line = b"--- " + _moved(line[4:])
        elif line.startswith(b"+++ ") and number and lines[number - 1].startswith(b"--- "):
            line = b"+++ " + _moved(line[4:])
        elif line.startswith(b"diff --git a/") and b" b/" in line:
            left, _, right = line[len(b"diff --git a/"):].partition(b" b/")
            line = (b"diff --git a/" + TARGET.encode() + b"/" + left + b" b/" + TARGET.encode()
                    + b"/" + right)
        elif line.startswith((b"rename from ", b"rename to ", b"copy from ", b"copy to ")):
            head, _, name = line.partition(b" from ") if b" from " in line else line.partition(
                b" to ")
            joiner = b" from " if b" from " in line else b" to "
            line = head + joiner + TARGET.encode() + b"/" + name
        out.append(line)
    return b"".join(out)


def _moved(name: bytes) -> bytes:
    if name.startswith(b"/dev/null"):
        return name
    first, slash, rest = name.partition(b"/")
    return first + slash + TARGET.encode() + b"/" + rest if slash else name


# --- one case ------------------------------------------------------------------------------------
@dataclass
class Score:
    """One tool on one case, scored with the corpus README's rules."""

    package: str
    tool: str
    patches: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    files: int = 0
    identical: int = 0
    manual: int = 0
    misapplied: list[str] = field(default_factory=list)
    differs_edited: list[str] = field(default_factory=list)
    rules: Counter[str] = field(default_factory=Counter)  # "rule: verdict" -> judged files
    conflicts_by_fate: Counter[str] = field(default_factory=Counter)
    upstreamed_noop: int = 0
    seconds: float = 0.0
    note: str = ""


def sync(top: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "sync", "-C", str(top), *args]
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, capture_output=True, env=env, check=False)


def git(top: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["git", "-C", str(top), *args], capture_output=True,
                            env={**os.environ, **ENV}, check=False)
    if result.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {result.stderr.decode()[-400:]}")
    return result


def commit_all(top: Path, message: str) -> None:
    git(top, "add", "-A", "-f", ".")
    git(top, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)


def run_tool(case: Path, work: Path) -> tuple[dict[str, str], dict[str, dict[str, str]], Path,
                                               str]:
    """Drive the tool on ``case`` in ``work``; return each patch's status, the rules that
    resolved each file, the result tree and a note on anything that went wrong."""
    meta = json.loads((case / "meta.json").read_text())
    package = meta["package"]
    top = work / "repo"
    images = work / "images"
    images.mkdir(parents=True)
    for side in ("old", "new"):
        write_docker_archive(case / f"{side}-upstream", images / f"{side}.tar",
                             f"corpus.local/{package}:{side}")
    git(work, "init", "-q", "-b", "main", str(top))
    manifest = top / "upstream-manifest.yaml"
    manifest.write_text(MANIFEST.format(package=package, tag="old", target=TARGET))
    commit_all(top, "track the old upstream")
    pulled = sync(top, "pull", "-q", "--json", "--from", f"docker-archive:{images / 'old.tar'}")
    if pulled.returncode:
        raise RuntimeError(f"pull old: {pulled.stderr.decode()[-600:]}")
    base = git(top, "rev-parse", "upstream").stdout.decode().strip()
    patches = top / "patches"
    for name in meta["patches"]:
        target = patches / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(move_under_target((case / "patches" / name).read_bytes()))
    (patches / "series").write_text(f"# upstream: {base}\n" + "".join(
        f"{name}\n" for name in meta["patches"]))
    commit_all(top, "the series")
    first = sync(top, "rebase-patches", "-q", "--json")
    note = "" if first.returncode == 0 else f"series on old upstream: exit {first.returncode}"
    while first.returncode == 1 and b'"stopped_at"' in first.stdout:
        if not json.loads(first.stdout).get("stopped_at"):
            break
        first = sync(top, "rebase-patches", "-q", "--json", "--skip")
    commit_all(top, "src = old upstream + series")
    manifest.write_text(MANIFEST.format(package=package, tag="new", target=TARGET))
    commit_all(top, "follow the new upstream")
    pulled = sync(top, "pull", "-q", "--json", "--from", f"docker-archive:{images / 'new.tar'}")
    if pulled.returncode:
        raise RuntimeError(f"pull new: {pulled.stderr.decode()[-600:]}")
    statuses: dict[str, str] = {}
    rules: dict[str, dict[str, str]] = {}
    result = sync(top, "rebase-patches", "-q", "--json")
    while True:
        if result.returncode not in (0, 1) or not result.stdout:
            raise RuntimeError(f"rebase-patches: exit {result.returncode}: "
                               f"{result.stderr.decode()[-600:]}")
        document = json.loads(result.stdout)
        for row in document.get("patches", []):
            # a patch dropped with --skip was a conflict the benchmark refused to resolve
            skipped = row["status"].startswith("skipped")
            statuses[row["name"]] = "conflict" if skipped else row["status"]
            if row.get("rules"):  # a skipped row forgets what stopped it: keep the first
                rules[row["name"]] = {_unmoved(path): rule for path, rule in row["rules"].items()}
        if result.returncode == 0 or not document.get("stopped_at"):
            break
        statuses[document["stopped_at"]] = "conflict"
        result = sync(top, "rebase-patches", "-q", "--json", "--skip")
    return statuses, rules, top / TARGET, note


def _unmoved(path: str) -> str:
    return path[len(TARGET) + 1:] if path.startswith(TARGET + "/") else path


def read_file(path: Path) -> bytes | None:
    if path.is_symlink():
        return b"symlink:" + os.readlink(path).encode()
    return path.read_bytes() if path.is_file() else None


def score_tool(case: Path, scratch: Path) -> Score:
    meta = json.loads((case / "meta.json").read_text())
    score = Score(meta["package"], TOOL, len(meta["patches"]))
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f"{meta['package']}-", dir=scratch))
    try:
        try:
            statuses, rules, result, score.note = run_tool(case, work)
        except RuntimeError as error:  # the tool gave up on the case: every file is manual
            score.note = str(error).splitlines()[0]
            statuses = {name: "conflict" for name in meta["patches"]}
            rules, result = {}, work / "nothing"
        score.seconds = time.perf_counter() - started
        conflicted = {name for name, status in statuses.items() if status == "conflict"}
        for name in meta["patches"]:
            status = statuses.get(name, "missing")
            score.statuses[_status_word(status)] += 1
            fate = _fate(meta, name)
            if name in conflicted:
                score.conflicts_by_fate[fate] += 1
            elif fate == "upstreamed" and _status_word(status) in ("already upstream", "empty"):
                score.upstreamed_noop += 1
        manual = {path for name in conflicted for path in meta["patch_files"][name]}
        edited = {path for name in meta["edited"] for path in meta["patch_files"][name]}
        acted: dict[str, set[str]] = {}
        for by_file in rules.values():
            for path, rule in by_file.items():
                acted.setdefault(path, set()).update(rule.split(", "))
        for path in meta["scored_files"]:
            score.files += 1
            if path in manual:
                score.manual += 1
                verdict = "manual"
            elif read_file(result / path) == read_file(case / "truth" / path):
                score.identical += 1
                verdict = "identical"
            elif path in edited:
                score.differs_edited.append(path)
                verdict = "differs (edited)"
            else:
                score.misapplied.append(path)
                verdict = "misapplied"
            for rule in acted.get(path, ()):
                score.rules[f"{rule}: {verdict}"] += 1
    finally:
        if not KEEP:
            shutil.rmtree(work, ignore_errors=True)
    return score


def _status_word(status: str) -> str:
    word = status.split(" (")[0]
    return "offset" if word.startswith("offset") else "fuzz" if word.startswith("fuzz") else word


def _fate(meta: dict[str, Any], name: str) -> str:
    if name in meta["kept"]:
        return "kept"
    if name in meta["dropped_upstreamed"]:
        return "upstreamed"
    return "renamed" if name in meta["renamed"] else "dropped"


# --- the reference tools -------------------------------------------------------------------------
def load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("debian_rebase", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot load the corpus script")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_reference(script: ModuleType, case: Path, tool: str, scratch: Path) -> Score:
    started = time.perf_counter()
    row = script.score(case, tool, scratch)
    meta = json.loads((case / "meta.json").read_text())
    score = Score(row["package"], tool, row["patches"], files=row["scored_files"],
                  identical=row["identical"], manual=row["manual_files"],
                  misapplied=list(row["misapplied_files"]),
                  differs_edited=list(row["differs_edited_files"]),
                  seconds=time.perf_counter() - started)
    for name, status in row["status"].items():
        score.statuses["3-way" if status == "3way" else status] += 1
        if status == "conflict":
            score.conflicts_by_fate[_fate(meta, name)] += 1
    return score


# --- the table -----------------------------------------------------------------------------------
COLUMNS = ("patches", "landed", "conflicts", "files", "identical", "manual", "misapplied",
           "differs (edited)")


def _cells(score: Score) -> list[int]:
    conflicts = score.statuses["conflict"]
    return [score.patches, score.patches - conflicts, conflicts, score.files, score.identical,
            score.manual, len(score.misapplied), len(score.differs_edited)]


def print_table(scores: Sequence[Score], tools: Sequence[str]) -> None:
    packages = sorted({score.package for score in scores})
    by = {(score.package, score.tool): score for score in scores}
    print("\n| package | tool | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for package in packages:
        for tool in tools:
            if (package, tool) in by:
                cells = _cells(by[package, tool])
                print(f"| {package} | {tool} | " + " | ".join(map(str, cells)) + " |")
    print("\n| tool | " + " | ".join(COLUMNS) + " | seconds |")
    print("|---|" + "---|" * (len(COLUMNS) + 1))
    for tool in tools:
        rows = [score for score in scores if score.tool == tool]
        totals = [sum(column) for column in zip(*(_cells(row) for row in rows), strict=True)]
        seconds = sum(row.seconds for row in rows)
        print(f"| **{tool}** | " + " | ".join(f"**{t}**" for t in totals) + f" | {seconds:.0f} |")
    print("\nconflicting patches by fate:")
    for tool in tools:
        fates: Counter[str] = Counter()
        for score in scores:
            if score.tool == tool:
                fates.update(score.conflicts_by_fate)
        print(f"  {tool:<20} " + ", ".join(f"{fate} {count}" for fate, count in
                                             sorted(fates.items())))
    ours = [score for score in scores if score.tool == TOOL]
    if ours:
        statuses: Counter[str] = Counter()
        rules: Counter[str] = Counter()
        for score in ours:
            statuses.update(score.statuses)
            rules.update(score.rules)
        noop = sum(score.upstreamed_noop for score in ours)
        print(f"\n{TOOL} statuses: " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())))
        print("judged files a rule acted on, by verdict: " + (
            ", ".join(f"{rule} {n}" for rule, n in sorted(rules.items())) or "none"))
        print(f"upstreamed patches that were clean no-ops: {noop}")
    for score in scores:
        for path in score.misapplied:
            print(f"MISAPPLIED {score.tool}: {score.package} {path}")
        if score.note:
            print(f"note {score.tool} {score.package}: {score.note}")


KEEP = False


def main(argv: Sequence[str] | None = None) -> int:
    global KEEP
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, type=Path, help="a built corpus (its --out)")
    parser.add_argument("--packages", help="comma-separated subset of the cases")
    parser.add_argument("--script", type=Path, default=DEFAULT_SCRIPT,
                        help=f"the corpus script, for its baseline (default {DEFAULT_SCRIPT})")
    parser.add_argument("--no-baseline", action="store_true",
                        help="score only this tool (the reference tools take a few minutes)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep each case's repository")
    parser.add_argument("--json", type=Path, help="also write every score, file names too")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    KEEP = args.keep
    corpus = args.corpus.resolve()
    cases = sorted(path.parent for path in corpus.glob("*/meta.json"))
    if args.packages:
        wanted = set(args.packages.split(","))
        cases = [case for case in cases if case.name in wanted]
    if not cases:
        print(f"no cases under {corpus}: build them with debian-rebase.py build --out {corpus}",
              file=sys.stderr)
        return 2
    if args.workdir is not None and args.workdir.resolve().is_relative_to(ROOT):
        print("--workdir must be outside the repository", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="merge-quality-", dir=args.workdir))
    tools = [TOOL]
    script = None
    if not args.no_baseline:
        script = load_script(args.script)
        tools += list(script.TOOLS)
    jobs: list[tuple[Path, str]] = [(case, tool) for tool in tools for case in cases]

    def one(job: tuple[Path, str]) -> Score:
        case, tool = job
        if tool == TOOL:
            return score_tool(case, scratch)
        assert script is not None
        return score_reference(script, case, tool, scratch)

    try:
        with cf.ThreadPoolExecutor(args.jobs) as pool:
            scores = list(pool.map(one, jobs))
    finally:
        if not KEEP:
            shutil.rmtree(scratch, ignore_errors=True)
    print_table(scores, tools)
    if KEEP:
        print(f"\nrepositories kept under {scratch}")
    if args.json:
        args.json.write_text(json.dumps([{**score.__dict__} for score in scores], indent=1,
                                        default=list) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
