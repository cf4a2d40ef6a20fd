"""Class 1 of issue 11, layers whose earlier state comes from the layer cache: a checkpoint under
refs/simapp-sync/layers/ is used only when its state is intact, bound to the chain of layers it
is filed under, and every blob it names is kept and whole. A tampered, truncated or mismatched
checkpoint is never trusted: a warning says so (on stderr and in --json) and the layers are
read from the image again, giving exactly the tree of a fresh pull."""

from __future__ import annotations

import json
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from sync.cli import main
from sync.git.checkpoints import REF_PREFIX
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import write_oci_archive

Tamper = Callable[[pygit2.Repository, str], None]


def loose(repo: pygit2.Repository, oid: pygit2.Oid | str) -> Path:
    return Path(repo.path) / "objects" / str(oid)[:2] / str(oid)[2:]


def rewrite_loose(repo: pygit2.Repository, oid: pygit2.Oid | str, raw: bytes) -> None:
    """Put ``raw`` (an object's bytes with its header) under ``oid``, as an attacker or a bad
    disk would: git's name no longer says what is inside."""
    path = loose(repo, oid)
    path.chmod(0o644)
    path.write_bytes(zlib.compress(raw))


def checkpoint(repo: pygit2.Repository, key: str) -> tuple[pygit2.Tree, dict]:
    tree = repo.get(repo.references[REF_PREFIX + key].target)
    assert isinstance(tree, pygit2.Tree)
    return tree, json.loads(repo[tree["state"].id].data)


def point(repo: pygit2.Repository, key: str, state: bytes | None = None,
          keep: pygit2.Oid | None = None) -> None:
    """Refile checkpoint ``key`` with another state or keep tree, its ref updated as git would."""
    tree, _ = checkpoint(repo, key)
    builder = repo.TreeBuilder()
    builder.insert("keep", keep or tree["keep"].id, pygit2.enums.FileMode.TREE)
    builder.insert("state", repo.create_blob(state) if state is not None else tree["state"].id,
                   pygit2.enums.FileMode.BLOB)
    repo.references.create(REF_PREFIX + key, builder.write(), force=True)


def state_edited_in_place(repo: pygit2.Repository, key: str) -> None:
    tree, document = checkpoint(repo, key)
    document["excluded"] += 1
    data = json.dumps(document, separators=(",", ":")).encode()
    rewrite_loose(repo, tree["state"].id, b"blob %d\0" % len(data) + data)


def state_truncated(repo: pygit2.Repository, key: str) -> None:
    tree, _ = checkpoint(repo, key)
    path = loose(repo, tree["state"].id)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:40])


def a_file_pointed_at_an_unkept_blob(repo: pygit2.Repository, key: str) -> None:
    _, document = checkpoint(repo, key)
    forged = repo.create_blob(b"print('forged')\n")
    leaf = document["root"][1]["opt"][1]["amazon"][1]["markov"][1]["agent.py"]
    leaf[2], leaf[3] = str(forged), len(b"print('forged')\n")
    point(repo, key, state=json.dumps(document).encode())


def chain_of_another_image(repo: pygit2.Repository, key: str) -> None:
    _, document = checkpoint(repo, key)
    document["chain"]["layers"][-1] = "sha256:" + "0" * 64
    point(repo, key, state=json.dumps(document).encode())


def state_of_a_shorter_chain(repo: pygit2.Repository, key: str) -> None:
    shorter = min(cache_keys(repo).items(), key=lambda item: item[1])[0]
    point(repo, key, state=bytes(repo[checkpoint(repo, shorter)[0]["state"].id].data))


def keep_tree_pointed_elsewhere(repo: pygit2.Repository, key: str) -> None:
    point(repo, key, keep=repo.TreeBuilder().write())


def a_blob_replaced(repo: pygit2.Repository, key: str) -> None:
    _, document = checkpoint(repo, key)
    oid = document["root"][1]["opt"][1]["amazon"][1]["markov"][1]["agent.py"][2]
    rewrite_loose(repo, oid, b"blob 7\0forged\n")


def a_blob_missing(repo: pygit2.Repository, key: str) -> None:
    _, document = checkpoint(repo, key)
    loose(repo, document["root"][1]["opt"][1]["amazon"][1]["markov"][1]["agent.py"][2]).unlink()


def cache_keys(repo: pygit2.Repository) -> dict[str, int]:
    """Each checkpoint's key and the number of layers it covers."""
    return {name[len(REF_PREFIX):]: len(checkpoint(repo, name[len(REF_PREFIX):])[1]["chain"]
                                        ["layers"])
            for name in repo.references if name.startswith(REF_PREFIX)}


def pull(repo_dir: Path, archive: Path, capsys: pytest.CaptureFixture[str], *extra: str
         ) -> tuple[int, dict]:
    capsys.readouterr()
    status = main(["pull", "--json", "--reread", "-C", str(repo_dir), "--from",
                   f"oci-archive:{archive}", *extra])
    return status, json.loads(capsys.readouterr().out)


def tree_of(repo_dir: Path) -> str:
    return subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "upstream^{tree}"],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def cached(repo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
           ) -> tuple[Path, Path, str]:
    """A repository that pulled the sample image (its layer cache written), the archive, and
    the tree a fresh pull of that image gives."""
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    archive = tmp_path / "v2.tar"
    write_oci_archive(archive, sample_image(2))
    assert pull(repo_dir, archive, capsys)[0] == 0
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "init", "-q", str(fresh)], check=True)
    (fresh / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    assert pull(fresh, archive, capsys, "--no-cache")[0] == 0
    return repo_dir, archive, tree_of(fresh)


@pytest.mark.parametrize("tamper, said", [
    (state_edited_in_place, "its state is damaged"),
    (state_truncated, "a loose object cut short or malformed"),
    (a_file_pointed_at_an_unkept_blob, "but does not keep it"),
    (chain_of_another_image, "does not hash to its key"),
    (state_of_a_shorter_chain, "holds the state of another chain of layers"),
    (keep_tree_pointed_elsewhere, "but does not keep it"),
    (a_blob_replaced, "is damaged (a blob of 7 bytes"),
    (a_blob_missing, "is missing"),
])
def test_a_tampered_checkpoint_is_never_trusted(cached: tuple[Path, Path, str],
                                                capsys: pytest.CaptureFixture[str],
                                                tamper: Tamper, said: str) -> None:
    repo_dir, archive, fresh_tree = cached
    repo = pygit2.Repository(str(repo_dir))
    keys = cache_keys(repo)
    longest = max(keys, key=lambda key: keys[key])
    tamper(repo, longest)

    status, document = pull(repo_dir, archive, capsys)

    assert status == 0
    warnings = [warning for warning in document["warnings"] if warning.startswith("layer cache")]
    assert len(warnings) == 1 and said in warnings[0], document["warnings"]
    assert "not used: the layers are read from the image again" in warnings[0]
    assert tree_of(repo_dir) == fresh_tree  # what a fresh pull gives
    fsck = subprocess.run(["git", "-C", str(repo_dir), "fsck", "--strict", "--no-dangling"],
                          capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr  # a damaged blob was written again
    # the cache was written anew: the next pull trusts it and warns no more
    again, document = pull(repo_dir, archive, capsys)
    assert again == 0 and document["warnings"] == []


def test_the_warning_is_printed_without_json(cached: tuple[Path, Path, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    repo_dir, archive, _ = cached
    repo = pygit2.Repository(str(repo_dir))
    keys = cache_keys(repo)
    keep_tree_pointed_elsewhere(repo, max(keys, key=lambda key: keys[key]))
    capsys.readouterr()
    assert main(["pull", "--reread", "-C", str(repo_dir), "--from",
                 f"oci-archive:{archive}"]) == 0
    captured = capsys.readouterr()
    assert "layer cache: " in captured.out + captured.err


def test_an_intact_cache_is_used_without_a_warning(cached: tuple[Path, Path, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    repo_dir, archive, fresh_tree = cached
    status, document = pull(repo_dir, archive, capsys)
    assert status == 0 and document["warnings"] == []
    assert tree_of(repo_dir) == fresh_tree
