"""The rendered cpu and gpu Dockerfiles against /work/shared/simapp-image-facts.md, row by row.

Each test names the facts section it covers. The Dockerfiles are rendered by `sync render` in a
checkout with the real template, manifest sections and image files, and resolved statically
(tests/image_contract/model.py): stages and their bases, the final image's environment,
labels, entry point, and every file with its source and mode.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sync.build_context import context_files, copy_sources
from tests.image_contract.conftest import ROOT, Rendered
from tests.image_contract.model import RepoFile, StagePath, apt_packages, words


def names(text: str) -> list[str]:
    """The facts file's package lists, written as they are there (space-separated)."""
    return text.split()


VARIANTS = ["cpu", "gpu"]
BASES = {"cpu": "ubuntu:20.04", "gpu": "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu20.04"}
TENSORFLOW = {"cpu": "tensorflow-cpu==2.13.1", "gpu": "tensorflow==2.13.1"}

A1 = names("sudo curl wget apt-utils git")
A2 = names("libcurl4-openssl-dev python python3 python3-pip python3-colcon-common-extensions rviz "
           "x264 libx264-dev libignition-math4 libignition-math4-dev gazebo11 libgazebo11-dev")
F1 = names("apt-utils build-essential cmake curl ffmpeg gnupg jwm jq libfreetype6-dev libgomp1 "
           "libhdf5-serial-dev libjpeg-dev libpng-dev libxrender1 libzmq3-dev lsb-core mesa-utils "
           "net-tools pkg-config python3-dev python3-opengl python3-pip wget x11-xserver-utils "
           "x11vnc xmlstarlet xvfb zlib1g-dev")
F2 = names("gazebo11 libgazebo11-dev libcurl4-openssl-dev libignition-math4 libignition-math4-dev "
           "libx264-dev python3-colcon-common-extensions python3-pip python3-rosdep "
           "ros-noetic-media-export ros-noetic-ros-base ros-noetic-rosmsg "
           "ros-noetic-rqt-common-plugins ros-noetic-web-video-server ros-noetic-xacro rviz "
           "x264")
REQUIREMENTS = [
    "annoy==1.17.3", "awscli", "bokeh==3.1.1", "boto3", "botocore", "cryptography==43.0.1",
    "eventlet==0.35.2", "flask==3.0.0", "futures==3.0.5", "gevent==23.9.1", "gunicorn==22.0.0",
    "gym", "h5py==3.10.0", "matplotlib==3.7.4", "minio==7.2.0", "netifaces", "numpy==1.24.3",
    "opencv-python==4.9.0.80", "pandas==2.0.3", "psutil>=5.6.7", "pillow==10.3.0",
    "protobuf<3.21", "pygame==2.5.2", "pyglet", "PyOpenGL==3.1.7", "pytelegraf", "pytest==7.4.4",
    "pytest-cov==4.1.0", "pydantic<2", "redis>=4.4.4", "retrying==1.3.4", "rl-coach-slim==1.0.0",
    "sagemaker==2.232.2", "sagemaker-training", "scikit-image==0.21.0", "scipy", "shapely==1.6.4",
    "tensorflow-probability==0.21.0", "setuptools<65"]
ENVIRONMENT = {
    "TZ": "America/New_York", "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true", "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "UTF-8", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
    "NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "all", "ROS_DISTRO": "noetic",
    "COLCON_CURRENT_PREFIX": "/opt/simapp", "COLCON_PYTHON_EXECUTABLE": "/usr/bin/python3",
    "_CATKIN_SETUP_DIR": "/opt/ros/noetic", "SAGEMAKER_PROGRAM": "start.sh"}
# section 7: destination -> (source in the repository, mode); /opt/simapp rows through links
FILES = {
    "/usr/share/glvnd/egl_vendor.d/10_nvidia.json": ("docker/files/10_nvidia.json", 0o644),
    "/requirements.txt": ("docker/requirements.txt", 0o644),
    "/opt/ml/code/start.sh": ("docker/files/sagemaker/start.sh", 0o644),
    "/opt/ml/code/rl_coach.patch": ("bundle/rl_coach.patch", 0o644),
    "/opt/simapp/run.sh": ("docker/files/robomaker/run.sh", 0o755),
    "/opt/simapp/debug-reward.diff": ("docker/files/robomaker/debug-reward.diff", 0o644),
    "/opt/simapp/shutdown.sh": ("docker/files/robomaker/shutdown.sh", 0o755),
    "/opt/simapp/start_deepracer_node_monitor.py":
        ("bundle/script/start_deepracer_node_monitor.py", 0o644),
    **{f"/opt/simapp/deepracer_{kind}node_monitor_list.txt":
       (f"bundle/src/deepracer_node_monitor/config/deepracer_{kind}node_monitor_list.txt", 0o644)
       for kind in ("", "evaluation_", "virtual_event_")},
    "/opt/code/ml/rl_coach/start.py": ("docker/files/rl-coach/start.py", 0o644),
    "/root/.sagemaker/config.yaml": ("docker/files/rl-coach/config.yaml", 0o644),
    "/opt/simapp/VERSION": ("VERSION", 0o644),
}
ML_CODE = {"redis.conf": 0o644, "nginx.conf": 0o644, "serve": 0o755,
           "model_validator/__init__.py": 0o644, "sagemaker_bootstrap.py": 0o644,
           "sage-train.sh": 0o755, "sageonly.sh": 0o755, "sageonly_evals.sh": 0o755,
           "simulation-entrypoint.sh": 0o755, "custom-sagemaker-containers.sh": 0o755,
           "scripts/build_deepracer_ros_packages.sh": 0o755, "scripts/clean_up_local.sh": 0o755,
           "scripts/cloudwatch_uploader.py": 0o755, "scripts/gzclient_source.sh": 0o755}


def all_runs(rendered: Rendered, variant: str, stage: str) -> str:
    return " ".join(next(s for s in rendered.stages(variant) if s.name == stage).runs())


# --- 1. identity, tags, publishing ---------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_1_labels_maintainer_and_version_next_to_the_oci_ones(rendered_project: Rendered,
                                                              variant: str):
    labels = rendered_project.image(variant).labels
    assert labels["maintainer"] == "AWS DeepRacer Community - deepracing.io"
    assert labels["version"] == (ROOT / "VERSION").read_text().strip() == "5.3.3"
    assert labels["org.opencontainers.image.version"] == "5.3.3"


def test_1_tags_platform_and_the_simapp_name(rendered_project: Rendered):
    bake = json.loads(rendered_project.project.read("docker-bake.json"))
    assert bake["variable"]["PREFIX"]["default"] == "awsdeepracercommunity"
    for variant in VARIANTS:
        target = bake["target"][variant]
        assert target["tags"] == [f"${{PREFIX}}/deepracer-simapp:5.3.3-{variant}"]
        assert target["platforms"] == ["linux/amd64"]  # no arm64, no manifest list
    assert (ROOT / "VERSION").read_text() == "5.3.3\n"


# --- 2. stages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_2_a_bundle_stage_builds_with_colcon_and_the_final_stage_does_not_inherit_from_it(
        rendered_project: Rendered, variant: str):
    bundle, redis, final = rendered_project.stages(variant)
    assert (bundle.name, bundle.base) == ("bundle", "ros:noetic-ros-base")
    assert final.name == "simapp" and final.base == BASES[variant]  # not FROM bundle
    assert "DEBIAN_FRONTEND=noninteractive" in bundle.values("ENV")
    assert bundle.values("WORKDIR") == ["/opt/bundle"]
    assert bundle.values("COPY") == ["bundle/ /opt/bundle/"]
    runs = " ".join(bundle.runs())
    assert "ln -sf /opt/ros/noetic/lib/libaws* /usr/local/lib/" in runs
    assert "ln -sfn /opt/ros/noetic/include/aws /usr/local/include/aws" in runs
    assert "rosdep update --rosdistro noetic" in runs
    assert "rosdep install --rosdistro noetic --from-paths src --ignore-src -r -y" in runs
    assert re.search(r"\. /opt/ros/noetic/setup\.bash \\?\s*&& colcon build$", bundle.runs()[-1])
    image = rendered_project.image(variant)
    assert image.files["/opt/simapp/"] == StagePath("bundle", "/opt/bundle/install/")
    assert image.files["/usr/local/bin/"] == StagePath("redis", "/usr/local/bin/")
    # no :latest intermediates, no build-core/build-bundle images: one file, named stages
    assert not any(":latest" in stage.base for stage in rendered_project.stages(variant))


# --- 3. build arguments and per-variant values ----------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_3_core_img_nvcc_tf_and_version_per_variant(rendered_project: Rendered, variant: str):
    text = rendered_project.text[variant]
    assert f"ARG CORE_IMG={BASES[variant]}\n" in text
    final_runs = all_runs(rendered_project, variant, "simapp")
    assert f'"{TENSORFLOW[variant]}"' in final_runs
    assert ("cuda-nvcc-11-8" in text) == (variant == "gpu")
    assert rendered_project.image(variant).labels["version"] == "5.3.3"


def test_3_everything_else_is_the_same_in_both_variants(rendered_project: Rendered):
    def normalized(variant: str) -> str:
        text = rendered_project.text[variant].replace(BASES[variant], "BASE")
        text = text.replace(TENSORFLOW[variant], "TF").replace("      cuda-nvcc-11-8 \\\n", "")
        return text.replace(f"Dockerfile.j2 for the {variant} variant", "").replace(
            f"community build ({variant})", "")

    assert normalized("cpu") == normalized("gpu")


# --- 4. apt packages, Redis, docker-compose ------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_4_apt_sets_a1_a2_f1_f2_f3_and_repositories(rendered_project: Rendered, variant: str):
    bundle, _, final = rendered_project.stages(variant)
    bundle_lists = [apt_packages(run) for run in bundle.runs()]
    (a1, a2) = bundle_lists[0]
    assert set(A1) <= set(a1) and a2 == A2
    final_lists = [packages for run in final.runs() for packages in apt_packages(run)]
    f1, f2, f3 = final_lists
    assert set(F1) <= set(f1)
    assert ("cuda-nvcc-11-8" in f1) == (variant == "gpu")
    assert f2 == F2 and f3 == ["docker-ce-cli"]
    runs = " ".join(final.runs())
    assert "dpkg --add-architecture i386" in runs and "apt-get upgrade -y" in runs
    assert "http://packages.ros.org/ros/ubuntu focal main" in runs
    assert "http://packages.osrfoundation.org/gazebo/ubuntu-stable focal main" in runs
    assert "[arch=amd64 signed-by=/usr/share/keyrings/docker-archive-keyring.gpg] " \
           "https://download.docker.com/linux/ubuntu focal stable" in runs
    assert "ROS_DISTRO=noetic" in final.values("ENV")
    for stage in rendered_project.stages(variant):
        for run in stage.runs():
            if "apt-get install" in run:
                assert run.count("apt-get install") == run.count(
                    "apt-get install -y --no-install-recommends"), run
                assert "rm -rf /var/lib/apt/lists/*" in run, run  # lists cleaned after


@pytest.mark.parametrize("variant", VARIANTS)
def test_4_f4_rosdep_installs_the_runtime_deps_over_the_simapp_install(
        rendered_project: Rendered, variant: str):
    final = rendered_project.stages(variant)[-1]
    order = [(name, value) for name, value in final.instructions
             if name in ("WORKDIR", "RUN") or value.startswith("--from=bundle")]
    index = next(i for i, (_, value) in enumerate(order) if "rosdep init" in value)
    assert order[index - 1] == ("WORKDIR", "/opt/simapp")
    assert order[index - 2][1].startswith("--from=bundle /opt/bundle/install/ /opt/simapp/")
    run = " ".join(order[index][1].split())
    assert "rosdep init && rosdep update --rosdistro noetic" in run
    assert ("rosdep install --rosdistro noetic --from-paths deepracer_gazebo_system_plugin "
            "deepracer_msgs deepracer_simulation_environment sagemaker_rl_agent --ignore-src -r -y"
            ) in run


@pytest.mark.parametrize("variant", VARIANTS)
def test_4_redis_6_2_7_and_docker_compose_1_29_2_are_checksum_verified(
        rendered_project: Rendered, variant: str):
    _, redis, final = rendered_project.stages(variant)
    assert "REDIS_VERSION=6.2.7" in redis.values("ARG")
    assert any(re.fullmatch(r"REDIS_SHA256=[0-9a-f]{64}", arg) for arg in redis.values("ARG"))
    runs = " ".join(redis.runs())
    assert "https://download.redis.io/releases/redis-${REDIS_VERSION}.tar.gz" in runs
    assert 'sha256sum --check --strict' in runs
    assert "make -C /tmp/redis install" in runs and "rm -rf /tmp/redis " in runs
    assert "COMPOSE_VERSION=1.29.2" in final.values("ARG")
    runs = " ".join(final.runs())
    assert "compose/releases/download/${COMPOSE_VERSION}/docker-compose-Linux-x86_64" in runs
    assert '"${COMPOSE_SHA256}  /usr/local/bin/docker-compose" | sha256sum --check' in runs
    assert "chmod 0755 /usr/local/bin/docker-compose" in runs


# --- 5. pip ------------------------------------------------------------------------------------


def test_5_requirements_txt_is_the_full_pin_list_in_order():
    lines = (ROOT / "docker" / "requirements.txt").read_text().splitlines()
    assert lines == REQUIREMENTS


@pytest.mark.parametrize("variant", VARIANTS)
def test_5_pip_upgrades_first_then_one_resolver_run_then_the_rl_coach_patch(
        rendered_project: Rendered, variant: str):
    final = rendered_project.stages(variant)[-1]
    (run,) = [run for run in final.runs() if "pip install" in run]
    run = " ".join(run.replace("\\\n", " ").split())
    upgrade = run.index('pip install --no-cache-dir --upgrade "pip==24.0" "setuptools<65"')
    resolve = run.index("SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True python3 -m pip "
                        "install --no-cache-dir --ignore-installed psutil -r /requirements.txt "
                        f'"{TENSORFLOW[variant]}"')
    patch = run.index("patch -p1 -N -d /usr/local/lib/python3.8/dist-packages/ "
                      "-i /opt/ml/code/rl_coach.patch")
    assert upgrade < resolve < patch
    image = rendered_project.image(variant)
    assert "SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL" not in image.env  # that step only


# --- 6. environment ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_6_the_final_environment(rendered_project: Rendered, variant: str):
    env = rendered_project.image(variant).env
    assert {name: env.get(name) for name in ENVIRONMENT} == ENVIRONMENT


# --- 7. files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_7_every_file_of_the_table_with_its_source_and_mode(rendered_project: Rendered,
                                                             variant: str):
    image = rendered_project.image(variant)
    for destination, (source, mode) in FILES.items():
        assert image.resolve(destination) == RepoFile(source, mode), destination
    for name, mode in ML_CODE.items():
        assert image.resolve(f"/opt/ml/code/{name}") == RepoFile(
            f"docker/files/ml-code/{name}", mode), name
    assert image.resolve("/opt/simapp/setup.bash") == StagePath(
        "bundle", "/opt/bundle/install/setup.bash")
    sources = " ".join(value.path for value in image.files.values()
                       if isinstance(value, RepoFile))
    assert "changehostname.c" not in sources and "devel.sh" not in sources


def test_7_the_egl_vendor_file_and_the_sagemaker_config():
    vendor = json.loads((ROOT / "docker/files/10_nvidia.json").read_text())
    assert vendor == {"file_format_version": "1.0.0",
                      "ICD": {"library_path": "libEGL_nvidia.so.0"}}
    config = yaml.safe_load((ROOT / "docker/files/rl-coach/config.yaml").read_text())
    assert config == {"local": {"container_root": "/tmp/sagemaker"}}


def test_7_the_dockerignore_lets_exactly_the_copied_files_through(rendered_project: Rendered):
    root = rendered_project.project.root
    needed: set[str] = set()
    for variant in VARIANTS:
        for source in copy_sources(f"docker/Dockerfile.{variant}", rendered_project.text[variant]):
            path = root / source.path
            needed |= ({p.relative_to(root).as_posix() for p in path.rglob("*") if p.is_file()}
                       if path.is_dir() else {source.path})
    needed = {name for name in needed if "__pycache__" not in name}
    assert context_files(root) == needed | {".dockerignore"}  # the engine always sends it


# --- 8. entrypoint, command, workdir -------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_8_workdir_entrypoint_cmd_no_expose_root(rendered_project: Rendered, variant: str):
    image = rendered_project.image(variant)
    assert image.workdir == "/opt/simapp"
    assert image.entrypoint == ["/bin/bash", "-c"]
    assert image.cmd == ["./run.sh run distributed_training.launch"]
    assert image.expose == [] and image.user is None  # root, from the base images


# --- 9. DeepRacer-for-Cloud's contract, per role --------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_9_rl_coach_role(rendered_project: Rendered, variant: str):
    image = rendered_project.image(variant)
    # command `python3 /opt/code/ml/rl_coach/start.py` in workdir /opt/ml/code/
    assert isinstance(image.resolve("/opt/code/ml/rl_coach/start.py"), RepoFile)
    assert "/opt/ml/code" in image.directories()
    # it drives the host's engine through the socket: docker CLI and docker-compose
    runs = all_runs(rendered_project, variant, "simapp")
    assert "docker-ce-cli" in runs and "/usr/local/bin/docker-compose" in runs
    start = (ROOT / "docker/files/rl-coach/start.py").read_text()
    for name in ("RUN_ID", "AWS_REGION", "SAGEMAKER_IMAGE", "PRETRAINED", "PRETRAINED_S3_PREFIX",
                 "PRETRAINED_S3_BUCKET", "PRETRAINED_CHECKPOINT", "MODEL_S3_PREFIX",
                 "MODEL_S3_BUCKET", "HYPERPARAMETER_FILE_S3_KEY", "MODELMETADATA_FILE_S3_KEY",
                 "CUDA_VISIBLE_DEVICES", "MAX_MEMORY_STEPS", "TELEGRAF_HOST", "TELEGRAF_PORT",
                 "S3_ENDPOINT_URL"):
        assert f'"{name}"' in start, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_9_sagemaker_role(rendered_project: Rendered, variant: str):
    image = rendered_project.image(variant)
    assert "sagemaker-training" in REQUIREMENTS  # supplies `train`
    assert image.env["SAGEMAKER_PROGRAM"] == "start.sh"
    assert isinstance(image.resolve("/opt/ml/code/start.sh"), RepoFile)
    assert isinstance(image.resolve("/opt/ml/code/redis.conf"), RepoFile)
    assert image.resolve("/usr/local/bin/redis-server") == StagePath(
        "redis", "/usr/local/bin/redis-server")
    assert "port 6379" in (ROOT / "docker/files/ml-code/redis.conf").read_text()


@pytest.mark.parametrize("variant", VARIANTS)
def test_9_robomaker_role_train_and_eval(rendered_project: Rendered, variant: str):
    image = rendered_project.image(variant)
    # train: `/opt/simapp/run.sh run distributed_training.launch` (or multi); eval: `./run.sh
    # run evaluation.launch` from the image's workdir
    assert image.resolve("/opt/simapp/run.sh") == RepoFile("docker/files/robomaker/run.sh",
                                                           0o755)
    assert image.resolve(f"{image.workdir}/run.sh") == image.resolve("/opt/simapp/run.sh")
    run_sh = (ROOT / "docker/files/robomaker/run.sh").read_text()
    assert "-rfbport 5900" in run_sh  # the VNC port DRfC publishes
    for name in ("WORLD_NAME", "S3_YAML_NAME", "MULTI_CONFIG", "RTF_OVERRIDE", "ENABLE_GUI",
                 "DOCKER_REPLICA_SLOT", "DEBUG_REWARD", "ROLLOUT_IDX", "USE_EXTERNAL_X"):
        assert name in run_sh, name


def test_9_drfc_reads_the_version_label_and_finds_simapp_in_the_name(rendered_project: Rendered):
    for variant in VARIANTS:
        version = rendered_project.image(variant).labels["version"]
        assert tuple(int(part) for part in version.split(".")[:2]) >= (5, 3)
    bake = json.loads(rendered_project.project.read("docker-bake.json"))
    assert all("simapp" in tag for target in bake["target"].values() for tag in target["tags"])


# --- 10. development bundles -------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_10_role_scripts_live_where_a_mounted_bundle_cannot_hide_them(
        rendered_project: Rendered, variant: str):
    image = rendered_project.image(variant)
    for name in ("run.sh", "shutdown.sh", "debug-reward.diff", "VERSION"):
        assert image.links[f"/opt/simapp/{name}"] == f"/opt/simapp-scripts/{name}"
        assert isinstance(image.files[f"/opt/simapp-scripts/{name}"], RepoFile)
    readme = (ROOT / "README.md").read_text()
    assert "### Development bundles" in readme and "/opt/simapp-scripts" in readme


# --- 11. quirks --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_11_the_quirks_are_not_copied(rendered_project: Rendered, variant: str):
    text = rendered_project.text[variant]
    assert "apt-key" not in text  # keys pinned by fingerprint, used with signed-by
    assert len(re.findall(r"gpg --batch --homedir \S+ --export [0-9A-F]{40}", text)) == 5
    assert "Gazebo9" not in text and "gazebo9" not in text
    assert "BUILDER_PREFIX" not in text and "CORE_PREFIX" not in text and "BUNDLE_PREFIX" \
        not in text  # one file: the final stage names the bundle stage, no image prefix
    assert "ros.asc" in text


def test_every_copy_source_is_declared_in_the_manifest(rendered_project: Rendered):
    declared = yaml.safe_load((ROOT / "upstream-manifest.yaml").read_text())["image_files"]
    for variant in VARIANTS:
        for source in copy_sources("Dockerfile", rendered_project.text[variant]):
            assert any(source.path == entry or source.path.startswith(entry.rstrip("/") + "/")
                       for entry in declared), source.path
    assert all(isinstance(word, str) for word in words('["a", "b"]'))


def test_the_rendered_files_are_in_the_checkout_as_render_wrote_them(rendered_project: Rendered):
    result = rendered_project.project.run("render", "--check")
    assert result.code == 0, result.err
    assert Path(rendered_project.project.root / "docker/Dockerfile.cpu").is_file()
