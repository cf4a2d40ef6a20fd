"""A grouped series (one mail of many binary literals, partly upstream) is refreshed without
holding the mail: read through a mapping of the patch file whose pages are let go as they are
used, parsed without cutting its base85 lines, refreshed from its sections (the binary ones
reused as views of its text), stored and written part by part."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pygit2

from sync.git.diff import diff_text
from tests.series.builders import entry_of, git, upstream_commit

ROOT = Path(__file__).resolve().parents[2]
FILES = 24
SIZE = 1_500_000  # incompressible: a ~45 MB mail
MEASURE = ("import sys\nfrom sync.cli import main\nfrom tests.memory import peak_rss_bytes\n"
           "code = main(sys.argv[1:])\nprint(peak_rss_bytes(), file=sys.stderr)\n"
           "sys.exit(code)")


def texture(number: int) -> bytes:
    return hashlib.shake_128(b"texture %d" % number).digest(SIZE)


def test_a_grouped_mail_is_refreshed_in_memory_well_under_its_own_size(tmp_path: Path):
    top = tmp_path / "top"
    git(tmp_path, "init", "-q", "-b", "main", str(top))
    repo = pygit2.Repository(str(top))
    base = {"bundle/doc.py": b"".join(b"line %d\n" % k for k in range(200))}
    new = {f"bundle/textures/t{number}.png": texture(number) for number in range(FILES)}
    after = {**new, "bundle/doc.py": base["bundle/doc.py"].replace(b"line 9\n", b"nine\n")}
    mail = b"From: A <a@b.c>\nSubject: [PATCH] textures\n\n---\n" + diff_text(
        repo, {path: entry_of(repo, base[path]) if path in base else None for path in after},
        {path: entry_of(repo, data) for path, data in after.items()})
    recorded = upstream_commit(repo, base)
    (top / "bundle").mkdir()
    (top / "bundle" / "doc.py").write_bytes(base["bundle/doc.py"])
    (top / "patches").mkdir()
    (top / "patches" / "0001-textures.patch").write_bytes(mail)
    (top / "patches" / "series").write_text(f"# upstream: {recorded}\n0001-textures.patch\n")
    (top / "upstream-manifest.yaml").write_text(
        "image: x/y\ntag: latest\nbranch: upstream\npaths:\n"
        "  - source: /opt/amazon\n    target: bundle\n")
    git(top, "add", "-A")
    git(top, "-c", "user.name=A", "-c", "user.email=a@b.c", "commit", "-qm", "series")
    # upstream took four of the textures: the mail is partly upstream and refreshed
    upstream_commit(repo, {**base, **{path: new[path] for path in list(new)[:4]}})
    result = subprocess.run([sys.executable, "-c", MEASURE, "rebase-patches", "-C", str(top),
                             "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stderr.strip().splitlines()[-1]) / 1024 / 1024
    mail_mb = len(mail) / 1024 / 1024
    written = (top / "patches" / "0001-textures.patch").read_bytes()
    assert written.count(b"GIT binary patch") == FILES - 4
    assert all((top / path).read_bytes() == data for path, data in new.items())
    assert peak_mb < 60 + 0.25 * mail_mb, f"peak RSS {peak_mb:.0f} MB for a {mail_mb:.0f} MB mail"

