"""A synthetic tree and patch series shaped like the community's simapp (issue 12's table).

Deterministic for a seed: the same files, patches and upstream releases every run. Sizes follow
the table at ``size=1``; ``size`` scales the number of files and patches (not file sizes), for
quick runs.

- upstream v1: ~4,000 files in ~700 folders 4-6 deep under ``bundle/``: ~2,150 binaries
  (PNG/JPG/STL textures and meshes, fonts, ~90 small ``.npy``; 150 of 1-5 MiB and one of
  8 MiB), 500 XML-like ``.dae`` meshes (median ~200 KB, one of 8 MiB), 1,000 small ``.py``,
  250 other text files; about 750 MB, incompressible binaries;
- the series, ~900 one-file mails as ``git format-patch --binary --full-index`` writes them:
  ~500 binary patches (literal, mostly new files, a few replaced or deleted), 200 new text
  files (5 of ~1 MB), 90 text edits of 1-4 hunks (5 with 20), 110 text deletions;
- upstream releases: ``conflicts`` (a handful of files, two of them edited where a patch edits
  them: one stop at ~30% of the series, one at ~95%), ``wide`` (~17% of the files changed,
  no conflicts: binaries replaced, text edited, patched files shifted by inserted lines,
  files added and deleted), ``grouped`` (a handful of files, and 20 of the big group's new
  files already upstream: the grouped series must be refreshed);
- the grouped variant of the series: the same changes as 9 mails, one of them ~270 files.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

BINARY_EXTS = ((".png", 70), (".jpg", 12), (".stl", 12), (".ttf", 2))
XML_EXT = ".dae"
MIB = 1 << 20


@dataclass
class Change:
    """One patch of the per-file series: ``path`` goes from ``before`` to ``after``."""

    name: str
    kind: str  # "new-binary", "binary", "delete-binary", "new-text", "edit", "delete-text"
    path: str
    before: bytes | None
    after: bytes | None
    spots: list[int] = field(default_factory=list)  # edit: first changed line of each hunk


@dataclass
class Release:
    """An upstream release: its files, what the result must be, and the conflicts on the way."""

    name: str
    files: dict[str, bytes]
    truth: dict[str, bytes]  # release + series (conflicts resolved with the patch's side)
    conflicts: list[str] = field(default_factory=list)  # patch names that stop, in order
    note: str = ""


@dataclass
class SimappCase:
    v1: dict[str, bytes]
    main: dict[str, bytes]  # v1 + series
    changes: list[Change]  # in series order
    groups: list[list[int]]  # the grouped variant: indexes into ``changes`` per mail
    releases: dict[str, Release]


def content(seed: str, size: int) -> bytes:
    """Incompressible, deterministic bytes (SHAKE-128 runs in C, unlike ``randbytes``)."""
    return hashlib.shake_128(seed.encode()).digest(size)


class _Text:
    """Deterministic text made of pooled lines (fast: no formatting per line)."""

    def __init__(self, rng: random.Random) -> None:
        self.xml = [b'    <v i="%d">%.5f %.5f %.5f</v>\n' % (k, rng.uniform(-9, 9),
                                                          rng.uniform(-9, 9), rng.uniform(-9, 9))
                    for k in range(1 << 16)]
        words = ("self", "return", "import", "rospy", "np", "track", "reward", "state", "x",
                 "None", "True", "agent", "speed", "steering", "waypoints", "if", "else")
        self.py = [b"    %s = %s(%s, %d)\n" % (rng.choice(words).encode(),
                                               rng.choice(words).encode(),
                                               rng.choice(words).encode(), k)
                   for k in range(1 << 14)]

    def make(self, rng: random.Random, kind: str, size: int, label: str) -> bytes:
        pool = self.xml if kind == "xml" else self.py
        head = (b'<?xml version="1.0"?>\n<COLLADA id="%s">\n' % label.encode() if kind == "xml"
                else b"# %s\nimport os\n\n" % label.encode())
        lines = rng.choices(pool, k=max(1, size // 34))
        if kind != "xml":  # a def every 12 lines: line numbers differ, as in real code
            for index in range(0, len(lines), 12):
                lines[index] = b"def f_%d_%s():\n" % (index, label.encode()[-12:])
        tail = b"</COLLADA>\n" if kind == "xml" else b""
        return head + b"".join(lines) + tail


def _folders(rng: random.Random, count: int) -> list[str]:
    names = (("Models", "Textures", "Worlds", "Meshes", "Scripts", "Tracks", "Media", "Config"),
             ("common", "deepracer", "robomaker", "sagemaker", "markov", "cars", "agents"),
             ("v1", "v2", "lowpoly", "highpoly", "materials", "shaders", "sensors", "maps"),
             ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"))
    found: set[str] = set()
    while len(found) < count:
        depth = rng.choice((4, 5, 6))
        parts = [rng.choice(names[min(level, 3)]) + (str(rng.randrange(9)) if level >= 3 else "")
                 for level in range(depth - 1)]
        found.add("bundle/" + "/".join(parts))
    return sorted(found)


def _lognormal(rng: random.Random, median: float, sigma: float, low: int, high: int) -> int:
    return int(min(high, max(low, rng.lognormvariate(math.log(median), sigma))))


def make_case(seed: int = 7, size: float = 1.0) -> SimappCase:
    rng = random.Random(seed)
    text = _Text(rng)
    def scale(count: int) -> int:
        return max(1, round(count * size))

    folders = _folders(rng, scale(700))
    v1: dict[str, bytes] = {}
    kinds: dict[str, str] = {}

    def place(ext: str, kind: str, data_size: int) -> str:
        while True:
            path = f"{rng.choice(folders)}/f{len(v1)}_{rng.randrange(1000)}{ext}"
            if path not in v1:
                break
        kinds[path] = kind
        v1[path] = (content(f"{seed}:{path}", data_size) if kind == "binary"
                    else text.make(rng, kind, data_size, path))
        return path

    exts, weights = zip(*BINARY_EXTS, strict=True)
    for number in range(scale(2060)):
        big = number < scale(150)
        data_size = (8 * MIB if number == 0 else int(MIB * math.exp(rng.uniform(0, math.log(5))))
                     if big else _lognormal(rng, 10_000, 2.0, 200, 900_000))
        place(rng.choices(exts, weights)[0], "binary", data_size)
    for _ in range(scale(90)):
        place(".npy", "binary", rng.randint(1_000, 50_000))
    for number in range(scale(500)):
        place(XML_EXT, "xml", 8 * MIB if number == 0 else
              _lognormal(rng, 200_000, 1.0, 10_000, 8 * MIB))
    for _ in range(scale(1000)):
        place(".py", "py", rng.randint(1_000, 20_000))
    for _ in range(scale(250)):
        place(rng.choice((".yaml", ".json", ".launch", ".world")), "py", rng.randint(500, 20_000))

    changes = _series(rng, text, seed, folders, v1, kinds, scale)
    main = dict(v1)
    for change in changes:
        if change.after is None:
            main.pop(change.path)
        else:
            main[change.path] = change.after
    groups = _groups(rng, changes, scale(270))
    releases = {release.name: release for release in (
        _conflicts(rng, v1, main, changes, kinds, seed),
        _wide(rng, text, v1, main, changes, kinds, seed),
        _grouped(rng, v1, main, changes, kinds, groups[0], seed))}
    return SimappCase(v1, main, changes, groups, releases)


def _series(rng: random.Random, text: _Text, seed: int, folders: list[str],
            v1: dict[str, bytes], kinds: dict[str, str], scale: Callable[[int], int]
            ) -> list[Change]:
    plan = (["new-binary"] * scale(420) + ["binary"] * scale(40) + ["delete-binary"] * scale(40)
            + ["new-text"] * scale(200) + ["edit"] * scale(90) + ["delete-text"] * scale(110))
    rng.shuffle(plan)
    free = {kind: [p for p in sorted(v1) if kinds[p] == kind] for kind in ("binary", "xml", "py")}
    for paths in free.values():
        rng.shuffle(paths)
    small_binaries = [p for p in free["binary"] if len(v1[p]) < 2 * MIB]
    changes: list[Change] = []
    big_texts = 0
    edits_on_xml = 0
    for number, kind in enumerate(plan, 1):
        name = f"{number:04d}-{kind}-{number}.patch"
        if kind == "new-binary":
            folder = rng.choice(folders)
            path = f"{folder}/new{number}{rng.choices(*zip(*BINARY_EXTS, strict=True))[0]}"
            after = content(f"{seed}:new:{path}",
                            _lognormal(rng, 6_800, 3.5, 100, 1_900_000))
            changes.append(Change(name, kind, path, None, after))
        elif kind in ("binary", "delete-binary"):
            path = small_binaries.pop()
            free["binary"].remove(path)
            after = (content(f"{seed}:edit:{path}", len(v1[path]) + rng.randint(-99, 99))
                     if kind == "binary" else None)
            changes.append(Change(name, kind, path, v1[path], after))
        elif kind == "new-text":
            big = big_texts < scale(5)
            big_texts += big
            ext = XML_EXT if big else rng.choice((".py", ".yaml", ".json"))
            path = f"{rng.choice(folders)}/new{number}{ext}"
            after = text.make(rng, "xml" if big else "py", MIB if big else
                              rng.randint(500, 50_000), path)
            changes.append(Change(name, kind, path, None, after))
        elif kind == "edit":
            on_xml = edits_on_xml < scale(10)
            edits_on_xml += on_xml
            hunks = 20 if number % 18 == 0 else rng.randint(1, 4)
            pool = free["xml" if on_xml or hunks == 20 else "py"]
            path = next(p for p in reversed(pool) if v1[p].count(b"\n") > 60 + 30 * hunks)
            pool.remove(path)
            after, spots = _edit(rng, v1[path], hunks, number)
            changes.append(Change(name, kind, path, v1[path], after, spots))
        else:
            path = free["py" if rng.random() < 0.8 else "xml"].pop()
            changes.append(Change(name, kind, path, v1[path], None))
    return changes


def _edit(rng: random.Random, data: bytes, hunks: int, tag: int) -> tuple[bytes, list[int]]:
    """Replace 2 lines and add 1 at ``hunks`` spots 20+ lines apart (past line 40)."""
    lines = data.splitlines(keepends=True)
    room = (len(lines) - 60) // hunks
    spots = [40 + part * room + rng.randrange(max(1, room - 25)) for part in range(hunks)]
    for spot in reversed(spots):
        lines[spot:spot + 2] = [b"    patched_%d_%d = %d\n" % (tag, spot, k) for k in range(3)]
    return b"".join(lines), spots


def _groups(rng: random.Random, changes: list[Change], big: int) -> list[list[int]]:
    """The grouped variant: one mail of ``big`` patches (~100 MB), the rest in 8 mails."""
    by_size = sorted(range(len(changes)), key=lambda k: -len(changes[k].after or b""))
    chosen = set(by_size[:big // 3])  # the largest new files, then a mix
    rest = [k for k in range(len(changes)) if k not in chosen]
    chosen.update(rng.sample(rest, min(len(rest), big - len(chosen))))
    first = sorted(chosen)
    others = [k for k in range(len(changes)) if k not in chosen]
    per = -(-len(others) // 8)
    return [first] + [others[k:k + per] for k in range(0, len(others), per)]


def _untouched(changes: list[Change], kinds: dict[str, str], kind: str) -> list[str]:
    touched = {change.path for change in changes}
    return sorted(p for p, k in kinds.items() if k == kind and p not in touched)


def _conflicts(rng: random.Random, v1: dict[str, bytes], main: dict[str, bytes],
               changes: list[Change], kinds: dict[str, str], seed: int) -> Release:
    files, truth = dict(v1), dict(main)
    py_edits = [k for k, change in enumerate(changes) if change.kind == "edit"
                and change.path.endswith(".py")]
    picks = [min(py_edits, key=lambda k: abs(k - at * len(changes))) for at in (0.30, 0.95)]
    stops = []
    for k in sorted(set(picks)):
        change = changes[k]
        lines = v1[change.path].splitlines(keepends=True)
        spot = change.spots[0]
        lines[spot] = b"    upstream_fix = %d\n" % spot  # the line the patch replaces
        files[change.path] = b"".join(lines)
        stops.append(change.name)  # resolved with the patch's side: truth is main's file
    for path in rng.sample(_untouched(changes, kinds, "py"), 3):
        files[path] = truth[path] = files[path] + b"# upstream edit\n"
    path = rng.choice(_untouched(changes, kinds, "binary"))
    files[path] = truth[path] = content(f"{seed}:release:{path}", len(v1[path]))
    return Release("conflicts", files, truth, stops,
                   f"{len(stops) + 4} files changed, 2 of them where a patch edits them")


def _wide(rng: random.Random, text: _Text, v1: dict[str, bytes], main: dict[str, bytes],
          changes: list[Change], kinds: dict[str, str], seed: int) -> Release:
    files, truth = dict(v1), dict(main)
    share = 0.17
    binaries = _untouched(changes, kinds, "binary")
    for path in rng.sample(binaries, int(len(binaries) * share)):
        files[path] = truth[path] = content(f"{seed}:wide:{path}", len(v1[path]))
    texts = _untouched(changes, kinds, "py") + _untouched(changes, kinds, "xml")
    for path in rng.sample(texts, int(len(texts) * share)):
        lines = v1[path].splitlines(keepends=True)
        at = rng.randrange(len(lines))
        lines[at] = b"# upstream changed this line\n"
        files[path] = truth[path] = b"".join(lines)
    for change in changes:  # patched text files moved down by lines inserted at the top
        if change.kind == "edit" and rng.random() < 0.4:
            header = b"".join(b"# upstream header %d\n" % k for k in range(rng.randint(1, 30)))
            files[change.path] = header + v1[change.path]
            truth[change.path] = header + main[change.path]
    gone = rng.sample([p for p in texts if p in files and files[p] == v1[p]], len(v1) // 100)
    for path in gone:
        del files[path], truth[path]
    for number in range(len(v1) // 100):
        path = f"bundle/Added/r2/new_{number}.py"
        files[path] = truth[path] = text.make(rng, "py", 4_000, path)
    changed = sum(1 for p in files if files[p] != v1.get(p)) + len(gone)
    return Release("wide", files, truth, [],
                   f"{changed} files changed ({changed / len(v1):.0%}), no conflicts")


def _grouped(rng: random.Random, v1: dict[str, bytes], main: dict[str, bytes],
             changes: list[Change], kinds: dict[str, str], big: list[int], seed: int
             ) -> Release:
    files, truth = dict(v1), dict(main)
    for path in rng.sample(_untouched(changes, kinds, "py"), 4):
        files[path] = truth[path] = files[path] + b"# upstream edit\n"
    added = [k for k in big if changes[k].kind == "new-binary"]
    for k in rng.sample(added, min(20, len(added))):
        files[changes[k].path] = changes[k].after or b""  # already upstream, same content
    return Release("grouped", files, truth, [],
                   "4 files changed, 20 of the big mail's new files already upstream")
