"""A grouped series (one mail of many binary literals, partly upstream) is refreshed without
holding the mail: read through a mapping of the patch file whose pages are let go as they are
used, parsed without cutting its base85 lines, refreshed from its sections (the binary ones
reused as views of its text), stored and written part by part."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from sync.git.diff import diff_text
from tests.series.builders import commit_one_patch, entry_of, new_checkout, upstream_commit

ROOT = Path(__file__).resolve().parents[2]
FILES = 24
SIZE = 1_500_000  # incompressible: a ~45 MB mail
MEASURE = ("import sys\nfrom sync.cli import main\nfrom tests.memory import peak_rss_bytes\n"
           "code = main(sys.argv[1:])\nprint(peak_rss_bytes(), file=sys.stderr)\n"
           "sys.exit(code)")


def texture(number: int) -> bytes:
    return hashlib.shake_128(b"texture %d" % number).digest(SIZE)


def rebase_peak_mb(top: Path) -> float:
    """Run ``rebase-patches`` on ``top`` in a child process, which must succeed; its peak RSS."""
    result = subprocess.run([sys.executable, "-c", MEASURE, "rebase-patches", "-C", str(top),
                             "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return int(result.stderr.strip().splitlines()[-1]) / 1024 / 1024


def test_a_grouped_mail_is_refreshed_in_memory_well_under_its_own_size(tmp_path: Path):
    top = tmp_path / "top"
    repo = new_checkout(top)
    base = {"bundle/doc.py": b"".join(b"line %d\n" % k for k in range(200))}
    new = {f"bundle/textures/t{number}.png": texture(number) for number in range(FILES)}
    after = {**new, "bundle/doc.py": base["bundle/doc.py"].replace(b"line 9\n", b"nine\n")}
    mail = b"From: A <a@b.c>\nSubject: [PATCH] textures\n\n---\n" + diff_text(
        repo, {path: entry_of(repo, base[path]) if path in base else None for path in after},
        {path: entry_of(repo, data) for path, data in after.items()})
    commit_one_patch(repo, base, "0001-textures.patch", mail)
    # upstream took four of the textures: the mail is partly upstream and refreshed
    upstream_commit(repo, {**base, **{path: new[path] for path in list(new)[:4]}})
    peak_mb = rebase_peak_mb(top)
    mail_mb = len(mail) / 1024 / 1024
    written = (top / "patches" / "0001-textures.patch").read_bytes()
    assert written.count(b"GIT binary patch") == FILES - 4
    assert all((top / path).read_bytes() == data for path, data in new.items())
    assert peak_mb < 60 + 0.25 * mail_mb, f"peak RSS {peak_mb:.0f} MB for a {mail_mb:.0f} MB mail"

def mesh(number: int, lines: int = 40_000) -> bytes:
    """A mesh file as simapp has them: XML-like text, a short line per vertex (~2 MB)."""
    return b"".join(b'<vertex id="%d" x="%d.25" y="%d.5" z="-%d.75"/>\n'
                    % (k, k * number, k, number) for k in range(lines))


def test_a_grouped_mail_of_edited_meshes_holds_each_edited_file_once(tmp_path: Path):
    """The mail's pages are let go as it is parsed, applied and stored, and each edited file is
    held once (as bytes, not as a line list) while the rest of the patch applies: the peak
    follows the size of the files the mail edits, not that of the mail or of line lists."""
    top = tmp_path / "top"
    repo = new_checkout(top)
    meshes = {f"bundle/meshes/m{number}.xml": mesh(number) for number in range(6)}
    base = {"bundle/doc.py": b"".join(b"line %d\n" % k for k in range(200)), **meshes}
    new = {f"bundle/textures/t{number}.png": texture(number) for number in range(FILES)}
    edited = {path: data.replace(b'<vertex id="20000" ', b'<vertex id="20000" edited="1" ')
              .replace(b'<vertex id="35000" ', b'<vertex id="35000" edited="1" ')
              for path, data in meshes.items()}
    after = {**new, **edited}
    mail = b"From: A <a@b.c>\nSubject: [PATCH] meshes and textures\n\n---\n" + diff_text(
        repo, {path: entry_of(repo, base[path]) if path in base else None for path in after},
        {path: entry_of(repo, data) for path, data in after.items()})
    commit_one_patch(repo, base, "0001-meshes.patch", mail)
    # upstream took four textures and changed every mesh far from the patch's edits: the
    # mail is partly upstream and refreshed
    moved = {path: data.replace(b'<vertex id="100" ', b'<vertex id="100" upstream="1" ')
             for path, data in meshes.items()}
    upstream_commit(repo, {**base, **moved, **{path: new[path] for path in list(new)[:4]}})
    peak_mb = rebase_peak_mb(top)
    mail_mb = len(mail) / 1024 / 1024
    written = (top / "patches" / "0001-meshes.patch").read_bytes()
    assert written.count(b"GIT binary patch") == FILES - 4
    assert all((top / path).read_bytes() == data for path, data in new.items())
    for path, data in moved.items():
        assert (top / path).read_bytes() == data.replace(
            b'<vertex id="20000" ', b'<vertex id="20000" edited="1" ').replace(
            b'<vertex id="35000" ', b'<vertex id="35000" edited="1" ')
    meshes_mb = sum(map(len, meshes.values())) / 1024 / 1024
    assert peak_mb < 60 + 0.25 * mail_mb + 4 * meshes_mb, \
        f"peak RSS {peak_mb:.0f} MB for a {mail_mb:.0f} MB mail editing {meshes_mb:.0f} MB"
