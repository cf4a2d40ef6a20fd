"""The examples each command's --help ends with: real command lines, each with what it does.

Kept apart from the command modules so one list shows the whole command line's vocabulary; the
CLI adds them as epilogs, spelled with the program name as it was invoked. Keys are the command
path ("" for the program itself, "patches show" for a subcommand).
"""

from __future__ import annotations

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [
        ("demo", "the whole workflow on a built-in sample, in seconds"),
        ("status", "where this repository stands and what to run next"),
        ("pull && rebase-patches", "take a new upstream image and carry the series forward"),
    ],
    "status": [
        ("status", "upstream, manifest, series, a stopped rebase, rendered files; what next"),
        ("status --json", "the same as one JSON document (for scripts and CI)"),
    ],
    "pull": [
        ("pull", "read the manifest's image through the Docker Engine at DOCKER_HOST"),
        ("pull --from docker://", "read it straight from the registry (no engine)"),
        ("pull --from docker-archive:simapp.tar", "read a `docker save` tarball"),
        ("pull --check", "is there a new upstream? (exit 1 when the tag moved)"),
    ],
    "adopt": [
        ("adopt --upstream-rev v5.3.3-import", "patches/ from the community commits since then"),
        ("adopt --upstream-rev v5.3.3-import --group folder", "one patch per top-level folder"),
        ("adopt --from docker://", "upstream read from the registry; one patch per file"),
    ],
    "rebase-patches": [
        ("rebase-patches", "re-apply patches/series onto the upstream branch"),
        ("rebase-patches --continue", "after resolving the conflicts of a stopped patch"),
        ("rebase-patches --abort", "give up: restore patches/ and the targets byte for byte"),
        ("rebase-patches --json", "the per-patch report as JSON (for CI)"),
    ],
    "render": [
        ("render", "write docker/Dockerfile.<variant> and docker-bake.json"),
        ("render --check", "exit 1 when the rendered files are stale (CI)"),
        ("render --variant cpu", "only the cpu variant"),
    ],
    "publish": [
        ("publish --prefix registry.example.com/org", "<version>-<variant>: a multi-arch index"),
        ("publish --variant cpu --force", "replace the index even if its platforms change"),
    ],
    "bundle": [
        ("bundle", "the colcon install tree of the first variant's bundle stage, in install/"),
        ("bundle --variant gpu -o ~/simapp-install", "for DR_ROBOMAKER_MOUNT_SIMAPP_DIR"),
    ],
    "build": [
        ("build --variant cpu", "build the cpu image through the Docker Engine"),
        ("build --push --prefix registry.example.com/org", "build every variant and push it"),
    ],
    "demo": [
        ("demo", "pull v1 -> pull v2 -> rebase-patches -> render in a throw-away repository"),
        ("demo --keep /tmp/simapp-demo", "the same, keeping the repository to explore"),
    ],
    "check": [
        ("check", "the work tree's targets == recorded upstream + series (exit 1 on drift)"),
        ("check --rev HEAD", "the same for a commit (what CI runs)"),
        ("check --json", "the verdict as JSON"),
    ],
    "patches": [
        ("patches list", "one row per patch with its status"),
        ("patches show 3", "patch number 3's header and diff"),
        ("patches range-diff", "what each patch became in the last rebase"),
    ],
    "patches list": [
        ("patches list", "index, name, subject, files, ±lines, status"),
        ("patches list --json", "the same as JSON"),
    ],
    "patches show": [
        ("patches show 0003-redis-socket.patch", "a patch by file name"),
        ("patches show 3 --no-pager", "by number, without a pager"),
    ],
    "patches new": [
        ("patches new fix-reward.patch -m 'Log the reward per step'",
         "capture the edits no patch explains into a new patch"),
        ("patches new track-textures.patch", "the same, subject taken from the name"),
    ],
    "patches range-diff": [
        ("patches range-diff", "each patch before the last rebase against now"),
        ("patches range-diff HEAD~1", "against the series as it was in HEAD~1"),
        ("patches range-diff --changed-only", "only the patches whose change changed"),
    ],
    "completion": [
        ('completion bash > /etc/bash_completion.d/simapp-sync', "bash completion, system-wide"),
        ('eval "$(simapp-sync completion zsh)"', "zsh completion, in ~/.zshrc"),
    ],
    "ci": [
        ("ci init", "write .github/workflows/simapp-sync.yml: daily upstream watch to a PR"),
        ("ci init --print", "show the workflow without writing it"),
    ],
    "ci init": [
        ("ci init", "the workflow for this repository's manifest"),
        ('ci init --cron "0 6 * * 1" --force', "weekly on Mondays, replacing the old file"),
        ("ci init --install 'simapp-sync==0.1.0'", "pin the version the runner installs"),
    ],
    "report": [
        ("report", "the review of the last pull + rebase as markdown (a PR body)"),
        ("report --format html -o review.html", "one self-contained page to read in a browser"),
        ("report --from upstream~1 --to upstream", "a dry run between two upstream commits"),
    ],
}
