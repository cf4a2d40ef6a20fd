"""`sync pull` end to end: archives in, one commit on the upstream branch out, nothing else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pygit2
import pytest

from sync.cli import main
from sync.sample import SAMPLE_MANIFEST, sample_image
from tests.builders.images import (
    Dir,
    File,
    Hardlink,
    ImageSpec,
    LayerSpec,
    Raw,
    Stream,
    write_docker_archive,
    write_oci_archive,
    write_oci_layout,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(repo_dir: Path) -> Path:
    (repo_dir / "upstream-manifest.yaml").write_text(SAMPLE_MANIFEST)
    return repo_dir


def pull(project: Path, source: str, *extra: str) -> int:
    return main(["pull", "-C", str(project), "--from", source, *extra])


def tip(project: Path) -> pygit2.Commit | None:
    repo = pygit2.Repository(str(project))
    reference = repo.references.get("refs/heads/upstream")
    return repo.get(reference.target) if reference else None  # type: ignore[return-value]


def files_of(project: Path, rev: str = "upstream") -> dict[str, tuple[int, bytes]]:
    repo = pygit2.Repository(str(project))
    tree = repo.revparse_single(rev).peel(pygit2.Tree)
    found: dict[str, tuple[int, bytes]] = {}

    def walk(node: pygit2.Tree, prefix: str) -> None:
        for entry in node:
            if entry.filemode == pygit2.GIT_FILEMODE_TREE:
                walk(repo.get(entry.id), f"{prefix}{entry.name}/")  # type: ignore[arg-type]
            else:
                found[prefix + entry.name] = (entry.filemode, repo.get(entry.id).data)
    walk(tree, "")
    return found


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True,
                          text=True).stdout


def test_a_docker_archive_becomes_one_commit_on_the_upstream_branch(project: Path,
                                                                    tmp_path: Path):
    archive = tmp_path / "v1.tar"
    write_docker_archive(archive, sample_image(1))
    head_before = git(project, "rev-parse", "HEAD")
    assert pull(project, f"docker-archive:{archive}") == 0

    files = files_of(project)
    assert files["bundle/bin/start.sh"][0] == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE
    assert files["bundle/bin/run"] == (pygit2.GIT_FILEMODE_LINK, b"start.sh")
    assert "bundle/rl_coach/build/lib/coach.py" in files  # deep build/ folders come through
    excluded = ("bundle/build/", "bundle/install/", "bundle/log/", "__pycache__", ".psd")
    assert not [path for path in files if any(part in path for part in excluded)]
    assert "bundle/run/agent.fifo" not in files

    commit = tip(project)
    assert commit is not None and commit.parents == []
    assert commit.message.startswith("Upstream sample.local/deepracer-sim-public:v1\n")
    assert "Upstream-Image-Id: sha256:" in commit.message
    assert "Upstream-Created: 2026-01-01T00:00:00Z" in commit.message
    # the work tree, the index and HEAD are untouched
    assert git(project, "rev-parse", "HEAD") == head_before
    assert git(project, "status", "--porcelain", "--untracked-files=no") == ""
    assert not (project / "bundle").exists()
    assert "simapp-sync pull" in git(project, "reflog", "show", "upstream")


def test_every_archive_kind_gives_the_same_tree(project: Path, tmp_path: Path):
    image = sample_image(2)
    write_docker_archive(tmp_path / "docker.tar", image)
    write_docker_archive(tmp_path / "docker-oci.tar", image, layout="oci")
    write_oci_archive(tmp_path / "oci.tar", image)
    write_oci_layout(tmp_path / "layout", image)
    trees = set()
    for source in (f"docker-archive:{tmp_path / 'docker.tar'}",
                   f"docker-archive:{tmp_path / 'docker-oci.tar'}",
                   f"oci-archive:{tmp_path / 'oci.tar'}", f"oci:{tmp_path / 'layout'}"):
        assert pull(project, source, "--reread") == 0
        trees.add(str(tip(project).tree_id))  # type: ignore[union-attr]
    assert len(trees) == 1
    assert len(list(tip(project).parents)) == 0  # type: ignore[union-attr]  # one commit only


def test_a_name_that_is_not_utf8_is_committed_byte_for_byte(project: Path, tmp_path: Path):
    """git's names are bytes: a Latin-1 name, and a folder so named, land in the tree as they
    were in the layer (the tree id is git's own for those bytes), in every archive kind."""
    image = _image_with(Raw(b"opt/amazon/caf\xe9.txt", content=b"latin-1\n"))
    image = ImageSpec(layers=(*image.layers, LayerSpec([
        Dir(b"opt/amazon/d\xff".decode("utf-8", "surrogateescape")),
        Raw(b"opt/amazon/d\xff/inner", content=b"in\n")])))
    write_docker_archive(tmp_path / "docker.tar", image)
    write_oci_layout(tmp_path / "layout", image)
    trees = set()
    for source in (f"docker-archive:{tmp_path / 'docker.tar'}", f"oci:{tmp_path / 'layout'}"):
        assert pull(project, source, "--reread") == 0
        trees.add(str(tip(project).tree_id))  # type: ignore[union-attr]
    assert len(trees) == 1
    listing = subprocess.run(["git", "-C", str(project), "ls-tree", "-r", "-z", "--name-only",
                              "upstream"], capture_output=True, check=True).stdout
    assert listing.split(b"\0") == [b"bundle/caf\xe9.txt", b"bundle/d\xff/inner",
                                     b"bundle/ok.txt", b""]
    shown = subprocess.run(["git", "-C", str(project), "show", b"upstream:bundle/caf\xe9.txt"],
                           capture_output=True, check=True).stdout
    assert shown == b"latin-1\n"
    assert git(project, "fsck", "--strict", "--no-dangling") == ""


def test_a_layer_checkpoint_keeps_a_name_that_is_not_utf8(project: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    image = _image_with(Raw(b"opt/amazon/caf\xe9.txt", content=b"latin-1\n"))
    write_docker_archive(tmp_path / "a.tar", image)
    assert pull(project, f"docker-archive:{tmp_path / 'a.tar'}") == 0
    more = ImageSpec(layers=(*image.layers, LayerSpec([File("opt/amazon/new.txt", b"n\n")])))
    write_docker_archive(tmp_path / "b.tar", more)
    capsys.readouterr()
    assert pull(project, f"docker-archive:{tmp_path / 'b.tar'}") == 0
    assert "reading 1/2" in capsys.readouterr().err  # only the new layer: the cache held
    listing = subprocess.run(["git", "-C", str(project), "ls-tree", "-r", "-z", "--name-only",
                              "upstream"], capture_output=True, check=True).stdout
    assert listing.split(b"\0") == [b"bundle/caf\xe9.txt", b"bundle/new.txt", b"bundle/ok.txt",
                                     b""]


def test_a_second_pull_of_the_same_image_is_a_no_op_that_says_so(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    archive = tmp_path / "v1.tar"
    write_docker_archive(archive, sample_image(1))
    assert pull(project, f"docker-archive:{archive}") == 0
    first = tip(project)
    capsys.readouterr()
    assert pull(project, f"docker-archive:{archive}") == 0
    assert "up to date" in capsys.readouterr().out
    assert pull(project, f"docker-archive:{archive}", "--reread") == 0
    assert "tree unchanged" in capsys.readouterr().out
    assert tip(project).id == first.id  # type: ignore[union-attr]


def test_a_new_version_is_committed_on_top_of_the_old_tip(project: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    write_docker_archive(tmp_path / "v2.tar", sample_image(2))
    assert pull(project, f"docker-archive:{tmp_path / 'v1.tar'}") == 0
    first = tip(project)
    capsys.readouterr()
    assert pull(project, f"docker-archive:{tmp_path / 'v2.tar'}", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    second = tip(project)
    assert second.parents[0].id == first.id  # type: ignore[union-attr]
    assert document["commit"] == str(second.id) and document["previous"] == str(first.id)
    assert document["changed"] is True
    assert {"image", "digest", "files", "bytes", "excluded", "skipped", "warnings",
            "seconds"} <= set(document)
    assert document["skipped"] == {"fifo": 2}
    assert document["files_changed"] == 5
    files = files_of(project)
    assert "bundle/markov/legacy.py" not in files  # removed by a whiteout in version 2
    assert "bundle/markov/metrics.py" in files


def test_a_pinned_digest_that_does_not_match_stops_the_pull(project: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]):
    write_oci_archive(tmp_path / "oci.tar", sample_image(1))
    manifest = project / "upstream-manifest.yaml"
    manifest.write_text(SAMPLE_MANIFEST.replace("tag: v1", "digest: sha256:" + "0" * 64))
    assert pull(project, f"oci-archive:{tmp_path / 'oci.tar'}") == 2
    assert "digest mismatch" in capsys.readouterr().err
    assert tip(project) is None


def _image_with(entry: object) -> ImageSpec:
    return ImageSpec(layers=(LayerSpec([Dir("opt/amazon"), File("opt/amazon/ok.txt", b"ok\n"),
                                        entry]),))  # type: ignore[list-item]


@pytest.mark.parametrize(("entry", "named"), [
    (Raw("opt/amazon/../../../etc/passwd", content=b"x"), "../../../etc/passwd"),
    (Raw("/opt/amazon/absolute", content=b"x"), "/opt/amazon/absolute"),
    (Raw("opt/amazon/.GIT/config", content=b"x"), ".GIT/config"),
    (Raw("opt/amazon/git~1/config", content=b"x"), "git~1"),
    (Raw("opt/amazon/.git./hooks/pre-commit", content=b"x"), ".git."),
    (Raw("opt/amazon/.g\u200cit/config", content=b"x"), "config"),
    (Raw("opt/amazon/dir\\file", content=b"x"), "dir\\\\file"),  # shown escaped
    (Hardlink("opt/amazon/link", "opt/amazon/missing"), "missing"),
    (Raw("opt/amazon/.wh.", content=b""), ".wh."),
])
def test_a_hostile_archive_is_refused_and_the_branch_is_untouched(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: object,
        named: str):
    write_docker_archive(tmp_path / "good.tar", sample_image(1))
    assert pull(project, f"docker-archive:{tmp_path / 'good.tar'}") == 0
    before = tip(project).id  # type: ignore[union-attr]
    capsys.readouterr()
    write_docker_archive(tmp_path / "bad.tar", _image_with(entry))
    assert pull(project, f"docker-archive:{tmp_path / 'bad.tar'}") == 2
    error = capsys.readouterr().err
    assert named in error, error
    assert "Traceback" not in error
    assert tip(project).id == before  # type: ignore[union-attr]
    assert not (project / "etc").exists() and not (tmp_path / "etc").exists()


def test_files_over_the_size_limit_are_refused(project: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]):
    write_docker_archive(tmp_path / "big.tar", _image_with(
        File("opt/amazon/big.bin", Stream.zeros(2 * 1024 * 1024))))
    assert pull(project, f"docker-archive:{tmp_path / 'big.tar'}", "--max-file-size", "1M") == 2
    assert "big.bin" in capsys.readouterr().err
    assert tip(project) is None
    assert pull(project, f"docker-archive:{tmp_path / 'big.tar'}", "--max-layer-size", "1M") == 2
    assert tip(project) is None


def test_a_truncated_archive_is_an_error_naming_it(project: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]):
    archive = tmp_path / "v1.tar"
    write_docker_archive(archive, sample_image(1))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 2 // 3])
    assert pull(project, f"docker-archive:{archive}") == 2
    assert "v1.tar" in capsys.readouterr().err
    assert tip(project) is None


def _big_image_archive(path: Path, size: int) -> None:
    image = ImageSpec(layers=(LayerSpec([Dir("opt/amazon"), File(
        "opt/amazon/model.bin", Stream.pattern(size, seed=b"model"))], compression="none"),))
    write_docker_archive(path, image)


def _pull_in_subprocess(project: Path, archive: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "sync", "pull", "-C", str(project), "-q",
                             "--from", f"docker-archive:{archive}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_300_mb_file_is_streamed_with_peak_memory_well_under_its_size(project: Path,
                                                                         tmp_path: Path):
    size = 300 * 1024 * 1024
    archive = tmp_path / "big.tar"
    _big_image_archive(archive, size)
    measure = ("import sys\nfrom sync.cli import main\nfrom tests.memory import peak_rss_bytes\n"
               "code = main(sys.argv[1:])\nprint(peak_rss_bytes(), file=sys.stderr)\n"
               "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", measure, "pull", "-C", str(project), "-q",
                             "--from", f"docker-archive:{archive}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stderr.strip().splitlines()[-1]) / 1024 / 1024
    assert peak_mb < 150, f"peak RSS {peak_mb:.0f} MB for a 300 MB file"
    repo = pygit2.Repository(str(project))
    blob = repo.revparse_single("upstream:bundle/model.bin")
    assert blob.size == size  # type: ignore[attr-defined]


def test_a_pull_killed_midway_leaves_the_branch_exactly_as_it_was(project: Path,
                                                                  tmp_path: Path):
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    assert pull(project, f"docker-archive:{tmp_path / 'v1.tar'}") == 0
    before = tip(project).id  # type: ignore[union-attr]
    archive = tmp_path / "big.tar"
    _big_image_archive(archive, 200 * 1024 * 1024)
    objects = project / ".git" / "objects"
    process = _pull_in_subprocess(project, archive)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any(path.name.startswith(("spool-", "tmp_obj_")) for path in objects.rglob("*")):
            break  # it is in the middle of writing
        time.sleep(0.01)
    assert process.poll() is None, "the pull finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert tip(project).id == before  # type: ignore[union-attr]
    fsck = subprocess.run(["git", "-C", str(project), "fsck", "--no-dangling"],
                          capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # and the next pull works normally
    assert pull(project, f"docker-archive:{archive}") == 0
    assert tip(project).id != before  # type: ignore[union-attr]


def test_archives_are_read_without_extracting_anything_to_disk(project: Path, tmp_path: Path):
    archive = tmp_path / "v1.tar"
    write_docker_archive(archive, sample_image(1))
    listing_before = sorted(p.name for p in tmp_path.iterdir())
    assert pull(project, f"docker-archive:{archive}") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == listing_before
    with tarfile.open(archive) as outer:  # the archive itself is left as it was
        assert "manifest.json" in outer.getnames()


def test_the_engine_path_pulls_from_the_registry_and_records_the_repo_digest(
        repo_dir: Path, tmp_path: Path, images, docker_host: str,
        capsys: pytest.CaptureFixture[str]):
    pushed = images.push("simapp", sample_image(1), tag="v1")
    (repo_dir / "upstream-manifest.yaml").write_text(
        SAMPLE_MANIFEST.replace("sample.local/deepracer-sim-public", pushed.repository))
    assert main(["pull", "-C", str(repo_dir), "--json"]) == 0  # default: docker-daemon:
    document = json.loads(capsys.readouterr().out)
    assert document["digest"] == pushed.digest
    message = tip(repo_dir).message  # type: ignore[union-attr]
    assert f"Upstream-Digest: {pushed.digest}" in message
    assert f"Upstream-Image: {pushed.repository}:v1" in message
    engine_tree = tip(repo_dir).tree_id  # type: ignore[union-attr]

    # the same image read from an archive gives the same tree: a no-op
    write_docker_archive(tmp_path / "v1.tar", sample_image(1))
    assert main(["pull", "-C", str(repo_dir), "--from", f"docker-archive:{tmp_path / 'v1.tar'}",
                 "--reread"]) == 0
    assert tip(repo_dir).tree_id == engine_tree  # type: ignore[union-attr]
    assert "tree unchanged" in capsys.readouterr().out


def test_an_unreachable_engine_says_how_to_start_it(project: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert main(["pull", "-C", str(project)]) == 2
    error = capsys.readouterr().err
    assert "docker-archive:" in error and "DOCKER_HOST" in error
    assert tip(project) is None
