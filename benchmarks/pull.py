"""Benchmark `sync pull` against today's script and against the floor, on a simapp-scale image.

    python benchmarks/pull.py [--files 5000] [--megabytes 800] [--daemon] [--workdir DIR] [--keep]

Generates two versions of an image shaped like the DeepRacer simapp (a few 50-100 MB binaries,
textures of a few MB, thousands of source files, colcon build outputs to exclude, several layers,
gzip-compressed), the second with about 5% of the kept files changed. Then it times, on the same
input in the same run:

1. `python -m sync pull --from docker-archive:` (cold, update to v2, re-pull of v2),
2. today's way: extract the mapped paths with tar, delete the excluded ones, git add -A, commit,
3. the floor: one pass that reads and decompresses the archive once and hashes and compresses
   each kept file once (level 1, as git's loose objects, with ISA-L's deflate: the fastest
   zlib-format compressor at hand), and does nothing else.

With ``--daemon`` it also starts a private Docker Engine and registry (as the tests do), pushes
version 1 there, and times the engine path (`sync pull` through the engine) against today's
script (`docker pull` + `docker create` + `docker cp` + delete excluded + `git add -A` + commit).

It prints each time, peak memory of `sync pull`, and the ratios. Not a test: nothing asserts.

With `--registry` it instead starts a private Docker Engine and registry (as the tests do), pushes
v1, a v1 whose top layer alone changed, and v2, and times `sync pull --from docker://` cold, after
the top-layer-only tag, and the engine path (`sync pull --from docker-daemon:`, i.e. docker pull +
copy out), counting bytes downloaded (the registry's log) and bytes written to disk.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.sample import SAMPLE_IMAGE, SAMPLE_MANIFEST  # noqa: E402
from sync.sample.image_writer import write_docker_archive  # noqa: E402
from sync.sample.specs import Dir, Entry, File, ImageSpec, LayerSpec, Stream, Whiteout  # noqa: E402

# the sample's manifest: the real simapp mapping and excludes, under a benchmark image name
MANIFEST = SAMPLE_MANIFEST.replace(SAMPLE_IMAGE, "bench.local/deepracer-sim-public")
EXCLUDED_TOP = ("build", "install", "log")
MB = 1_000_000


@dataclass(frozen=True)
class KeptFile:
    path: str  # below opt/amazon
    size: int
    binary: bool
    mode: int = 0o644


def corpus() -> bytes:
    """1 MB of source-like text: compresses about as well as the simapp's Python and XML."""
    rng = random.Random(7)
    words = ["def", "return", "self", "import", "class", "params", "reward", "speed", "track",
             "waypoints", "numpy", "rospy", "float", "int", "if", "else", "for", "in", "None",
             "agent", "episode", "action", "state", "model", "=", "(", ")", ":", "+", "0.5"]
    lines = []
    size = 0
    while size < MB:
        line = "    " * rng.randint(0, 3) + " ".join(rng.choices(words, k=rng.randint(3, 12)))
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:MB]


def plan_files(count: int, megabytes: int) -> list[KeptFile]:
    """About ``megabytes`` MB in ``count`` files: big binaries, textures, source files."""
    rng = random.Random(11)
    scale = min(1.0, megabytes / 800)  # smaller runs keep the proportions
    files = [KeptFile("bin/gzserver-plugins.so", int(100 * MB * scale), True, 0o755),
             KeptFile("models/pretrained/model.pb", int(75 * MB * scale), True),
             KeptFile("models/pretrained/weights.npy", int(50 * MB * scale), True)]
    budget = megabytes * MB - sum(f.size for f in files)
    textures = max(1, count // 40)
    texture_bytes = int(budget * 0.55)
    for index in range(textures):
        files.append(KeptFile(f"meshes/track_{index:03d}/texture.png",
                              texture_bytes // textures, True))
    sources = count - len(files)
    source_bytes = budget - texture_bytes
    folders = ["markov/agents", "markov/environments", "rl_coach/build/lib/rl_coach",
               "rl_coach/agents", "deepracer_simulation_environment/scripts", "launch", "urdf",
               "worlds", "configs"]
    for index in range(sources):
        folder = folders[index % len(folders)]
        size = max(200, int(rng.expovariate(1 / (source_bytes / sources))))
        mode = 0o755 if index % 50 == 0 else 0o644
        files.append(KeptFile(f"{folder}/module_{index:05d}.py", size, False, mode))
    return files


NOISE = random.Random(5).randbytes(8 * MB)
BLOCK = 4 << 20  # a multiple of tar's 16 KiB record size


def noise(size: int, seed: bytes) -> Stream:
    """Incompressible bytes (like PNG or model weights), unique per seed, cheap to produce."""
    start = int.from_bytes(hashlib.sha256(seed).digest()[:4], "big") % (len(NOISE) // 2)
    block = (hashlib.sha256(seed).digest() + NOISE[start:start + BLOCK])[:BLOCK]

    def chunks():
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)

    return Stream(size, chunks)


def content(file: KeptFile, text: bytes, version: int) -> bytes | Stream:
    seed = f"{file.path}@{version}".encode()
    if file.binary:
        return noise(file.size, seed)
    offset = int.from_bytes(hashlib.sha256(seed).digest()[:4], "big") % (len(text) - 1)
    header = f"# {file.path} version {version}\n".encode()
    body = (text[offset:] + text) * (file.size // len(text) + 1)
    return header + body[: max(0, file.size - len(header))]


def image(files: list[KeptFile], changed: set[str], version: int) -> ImageSpec:
    text = corpus()
    mtime = 1_700_000_000 + version * 86_400
    base = [Dir("usr"), *(File(f"usr/lib/lib{i:03d}.so", noise(200_000, f"os{i}".encode()))
                          for i in range(300))]
    ros = [File(f"opt/ros/noetic/lib/ros_{i:03d}.so", noise(150_000, f"ros{i}".encode()))
           for i in range(200)]
    app: list[Entry] = [Dir("opt/amazon")]
    for file in files:
        file_version = version if file.path in changed else 1
        app.append(File(f"opt/amazon/{file.path}", content(file, text, file_version),
                        mode=file.mode, mtime=mtime))
    for top in EXCLUDED_TOP:  # colcon outputs, excluded by the manifest
        for index in range(250):
            app.append(File(f"opt/amazon/{top}/pkg_{index:03d}/artifact.o",
                            noise(60_000, f"{top}{index}".encode()), mtime=mtime))
    for index in range(300):
        app.append(File(f"opt/amazon/markov/__pycache__/module_{index:05d}.cpython-38.pyc",
                        b"\x55\x0d\x0d\x0a" + bytes(2000), mtime=mtime))
    fixup = [Whiteout(f"opt/amazon/{files[-1].path}"),
             File("opt/amazon/configs/environment.yml", f"version: {version}\n".encode())]
    return ImageSpec(layers=(LayerSpec(base), LayerSpec(ros), LayerSpec(app), LayerSpec(fixup)),
                     tags=(f"bench.local/deepracer-sim-public:v{version}",),
                     created=f"2026-0{version}-01T00:00:00Z")


# --- the three ways --------------------------------------------------------------------------


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
        ) -> tuple[float, int]:
    """Run ``command``; return (seconds, peak RSS in MB) measured by /usr/bin/time."""
    started = time.perf_counter()
    measured = ["/usr/bin/time", "-f", "%M", *command]
    result = subprocess.run(measured, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    return seconds, peak_kb // 1024


def new_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "upstream-manifest.yaml").write_text(MANIFEST)
    git(path, "add", "upstream-manifest.yaml")
    git(path, "commit", "-qm", "manifest")
    return path


def git(path: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(path), "-c", "user.name=bench", "-c",
                    "user.email=bench@localhost", *args], check=True)


def sync_pull(repo: Path, archive: Path, *extra: str) -> tuple[float, int]:
    return run([sys.executable, "-m", "sync", "-C", str(repo), "pull", "-q", "--json", "--from",
                f"docker-archive:{archive}", *extra], cwd=ROOT)


def todays_way(repo: Path, archive: Path, scratch: Path) -> tuple[float, int]:
    """tar out the app layers, delete what is excluded, git add -A, git commit."""
    script = f"""
set -e
rm -rf {scratch} && mkdir -p {scratch}/layers {scratch}/fs
cd {scratch}/layers && tar -xf {archive}
layers=$(python3 -c 'import json; print(*json.load(open("manifest.json"))[0]["Layers"])')
for layer in $layers; do
  tar -xzf "$layer" -C {scratch}/fs --wildcards 'opt/amazon/*' 2>/dev/null || true
done
cd {scratch}/fs/opt/amazon
rm -rf build install log
find . -name __pycache__ -prune -exec rm -rf {{}} +
find . \\( -name '*.pyc' -o -name '*.psd' \\) -delete
rm -rf {repo}/bundle && mv {scratch}/fs/opt/amazon {repo}/bundle
cd {repo} && git add -A bundle && git -c user.name=b -c user.email=b@l commit -qm update
"""
    return run(["bash", "-c", script])


def floor(archive: Path) -> None:
    """Read and decompress once; hash and compress each kept file once; nothing else."""
    import pathspec
    from isal import igzip, isal_zlib

    exclude = pathspec.GitIgnoreSpec.from_lines(
        ["/build/", "/install/", "/log/", "*.psd", "__pycache__/", "*.pyc"])
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer_path in manifest[0]["Layers"]:
            raw = outer.extractfile(layer_path)
            assert raw is not None
            with igzip.IGzipFile(fileobj=raw) as stream, tarfile.open(fileobj=stream,
                                                                       mode="r|") as layer:
                for member in layer:
                    name = member.name
                    if not member.isfile() or not name.startswith("opt/amazon/"):
                        continue
                    if exclude.match_file(name[len("opt/amazon/"):]):
                        continue
                    data = layer.extractfile(member).read()  # type: ignore[union-attr]
                    hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
                    isal_zlib.compress(data, 1)


# --- main ------------------------------------------------------------------------------------


def registry_report(files: list[KeptFile], changed: set[str], workdir: Path) -> None:
    """docker:// against the engine path, on images pushed to a local registry."""
    from dataclasses import replace

    from tests.fixtures.docker_services import start_engine, start_registry

    v1_spec = image(files, changed, 1)
    top = replace(v1_spec.layers[-1], entries=(
        *v1_spec.layers[-1].entries, File("opt/amazon/configs/top-only.yml", b"changed: top\n")))
    specs = {"v1": v1_spec, "v1-top": replace(v1_spec, layers=(*v1_spec.layers[:-1], top)),
             "v2": image(files, changed, 2)}
    engine, registry = start_engine(), start_registry()
    try:
        client = engine.client(timeout=1800)
        repository = f"{registry.address}/deepracer-sim-public"
        started = time.perf_counter()
        for tag, spec in specs.items():
            archive = workdir / f"{tag}.tar"
            write_docker_archive(archive, replace(spec, tags=(f"{repository}:{tag}",)))
            with archive.open("rb") as stream:
                client.images.load(stream)
            for event in client.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise SystemExit(f"push failed: {event}")
            archive.unlink()
        client.api.remove_image(f"{repository}:v1-top", force=True)
        client.api.remove_image(f"{repository}:v2", force=True)
        client.api.remove_image(f"{repository}:v1", force=True)
        client.api.prune_images(filters={"dangling": False})
        print(f"pushed v1, v1-top, v2 to {registry.address} in "
              f"{time.perf_counter() - started:.0f} s")
        manifest = MANIFEST.replace("bench.local/", f"{registry.address}/")
        rows: list[tuple[str, float, int, int, int]] = []

        def measure(name: str, repo: Path, tag: str, source: str, extra_disk: Path | None
                    ) -> None:
            (repo / "upstream-manifest.yaml").write_text(manifest.replace("tag: v1",
                                                                          f"tag: {tag}"))
            mark = registry.mark()
            disk = _du(repo / ".git") + (_du(extra_disk) if extra_disk else 0)
            env = {**os.environ, "DOCKER_HOST": engine.host}
            seconds, peak = run([sys.executable, "-m", "sync", "-C", str(repo), "pull", "-q",
                                 "--json", "--from", source], cwd=ROOT, env=env)
            downloaded = sum(registry.blob_path(d).stat().st_size
                             for d in registry.blob_gets(since=mark))
            written = _du(repo / ".git") + (_du(extra_disk) if extra_disk else 0) - disk
            rows.append((name, seconds, peak, downloaded, written))

        ours = new_repo(workdir / "registry-ours")
        measure("docker:// cold v1", ours, "v1", "docker://", None)
        measure("docker:// v1 -> v1-top", ours, "v1-top", "docker://", None)
        measure("docker:// v1-top -> v2", ours, "v2", "docker://", None)
        engine_repo = new_repo(workdir / "registry-engine")
        measure("engine cold v1", engine_repo, "v1", "docker-daemon:", engine.directory)
        print(f"\n{'run':<26}{'seconds':>9}{'peak RSS':>10}{'downloaded':>13}{'disk':>11}")
        for name, seconds, peak, downloaded, written in rows:
            print(f"{name:<26}{seconds:>9.2f}{peak:>7} MB{downloaded / MB:>10,.0f} MB"
                  f"{written / MB:>8,.0f} MB")
        cold, top_only, engine_cold = rows[0][1], rows[1][1], rows[3][1]
        print(f"\n  docker:// cold is {engine_cold / cold:.2f}x faster than the engine path "
              f"(target >= 2)")
        print(f"  top-layer-only update is {cold / top_only:.2f}x faster than cold "
              f"(target >= 5; only the changed layer is downloaded, the rest comes from the "
              f"per-layer cache)")
    finally:
        registry.stop()
        engine.stop()


def _du(path: Path) -> int:
    """Bytes allocated under ``path`` (du -sb)."""
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    return int(done.stdout.split()[0]) if done.returncode == 0 and done.stdout else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--megabytes", type=int, default=800)
    parser.add_argument("--changed-percent", type=float, default=5.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--daemon", action="store_true",
                        help="also time the Docker Engine path against today's docker cp script")
    parser.add_argument("--registry", action="store_true",
                        help="time docker:// against the engine path (starts dockerd and a "
                             "registry; needs root)")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(args.floor)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-pull-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        report(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args: argparse.Namespace, workdir: Path) -> None:
    files = plan_files(args.files, args.megabytes)
    rng = random.Random(3)
    changed = {f.path for f in rng.sample(files, int(len(files) * args.changed_percent / 100))}
    if args.registry:
        registry_report(files, changed, workdir)
        return
    started = time.perf_counter()
    v1, v2 = workdir / "simapp-v1.tar", workdir / "simapp-v2.tar"
    write_docker_archive(v1, image(files, changed, 1))
    write_docker_archive(v2, image(files, changed, 2))
    kept = sum(f.size for f in files)
    print(f"generated 2 images in {time.perf_counter() - started:.0f} s: {len(files):,} kept "
          f"files, {kept / MB:,.0f} MB kept, archive {v1.stat().st_size / MB:,.0f} MB, "
          f"{len(changed)} files changed in v2")

    ours_repo, todays_repo = new_repo(workdir / "ours"), new_repo(workdir / "todays")
    results: dict[str, tuple[float, int]] = {}
    results["floor"] = run([sys.executable, __file__, "--floor", str(v1)])
    results["ours cold"] = sync_pull(ours_repo, v1)
    results["todays cold"] = todays_way(todays_repo, v1, workdir / "scratch")
    (ours_repo / "upstream-manifest.yaml").write_text(MANIFEST.replace("tag: v1", "tag: v2"))
    results["ours update"] = sync_pull(ours_repo, v2)
    results["todays update"] = todays_way(todays_repo, v2, workdir / "scratch")
    results["ours re-pull"] = sync_pull(ours_repo, v2)
    results["ours re-pull --reread"] = sync_pull(ours_repo, v2, "--reread")

    print(f"\n{'run':<26}{'seconds':>9}{'peak RSS':>10}")
    for name, (seconds, peak) in results.items():
        print(f"{name:<26}{seconds:>9.2f}{peak:>7} MB")
    ratio = lambda a, b: results[a][0] / results[b][0]  # noqa: E731
    print("\nratios (higher is better for us):")
    print(f"  cold:   ours is {ratio('ours cold', 'floor'):.2f}x the floor (target <= 1.3), "
          f"{ratio('todays cold', 'ours cold'):.2f}x faster than today's (target >= 1.5)")
    print(f"  update: {ratio('todays update', 'ours update'):.2f}x faster than today's "
          f"(target >= 3)")
    print(f"  re-pull of an unchanged image: {results['ours re-pull'][0]:.2f} s (target < 1 s)")
    print(f"  peak RSS of sync pull: {max(v[1] for k, v in results.items() if 'ours' in k)} MB "
          f"(target < 200 MB)")
    if args.daemon:
        engine_results(v1, workdir)


def engine_results(archive: Path, workdir: Path) -> None:
    """The engine path against today's docker cp script, same image, pulled from a registry."""
    import docker

    from tests.fixtures.docker_services import start_engine, start_registry

    engine, registry = start_engine(), start_registry()
    try:
        client = engine.client(timeout=600)
        with archive.open("rb") as data:
            client.images.load(data)  # streamed, not read into memory
        repository = f"{registry.address}/deepracer-sim-public"
        client.api.tag("bench.local/deepracer-sim-public:v1", repository, "v1")
        for event in client.api.push(repository, tag="v1", stream=True, decode=True):
            if "error" in event:
                raise SystemExit(f"push failed: {event}")
        env = {**os.environ, "DOCKER_HOST": engine.host}

        def forget_image() -> None:
            for name in (f"{repository}:v1", "bench.local/deepracer-sim-public:v1"):
                with contextlib.suppress(docker.errors.ImageNotFound):
                    client.images.remove(name, force=True)

        forget_image()
        ours = new_repo(workdir / "engine-ours")
        (ours / "upstream-manifest.yaml").write_text(
            MANIFEST.replace("bench.local/deepracer-sim-public", repository))
        results = {"ours engine": run([sys.executable, "-m", "sync", "-C", str(ours), "pull",
                                       "-q", "--json"], cwd=ROOT, env=env)}
        forget_image()
        todays = new_repo(workdir / "engine-todays")
        script = f"""
set -e
docker pull -q {repository}:v1 >/dev/null
id=$(docker create {repository}:v1 true)
rm -rf {workdir}/cp && mkdir -p {workdir}/cp
docker cp "$id":/opt/amazon {workdir}/cp/amazon
docker rm "$id" >/dev/null
cd {workdir}/cp/amazon && rm -rf build install log
find . -name __pycache__ -prune -exec rm -rf {{}} +
find . \\( -name '*.pyc' -o -name '*.psd' \\) -delete
rm -rf {todays}/bundle && mv {workdir}/cp/amazon {todays}/bundle
cd {todays} && git add -A bundle && git -c user.name=b -c user.email=b@l commit -qm update
"""
        results["todays engine"] = run(["bash", "-c", script], env=env)
        print(f"\n{'engine run':<26}{'seconds':>9}{'peak RSS':>10}")
        for name, (seconds, peak) in results.items():
            print(f"{name:<26}{seconds:>9.2f}{peak:>7} MB")
        print(f"  engine: ours is {results['todays engine'][0] / results['ours engine'][0]:.2f}x "
              "faster than today's docker cp script")
    finally:
        registry.stop()
        engine.stop()


if __name__ == "__main__":
    main()
