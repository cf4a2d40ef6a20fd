"""A reduced real build: the rendered Dockerfile's stage graph, COPY sources, links, entry point
and working directory, through the test Docker Engine, from the real build context.

Building the full image needs the internet (apt, pip, the Redis and compose downloads); here
the RUN steps that need it are replaced by a line in /reduced-steps.log and the bases are
local images made from this machine's files (tests/image_contract/reduced.py). Everything
else is the rendered file.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import pytest

from sync.docker_engine import BuildRequest, build_image
from tests.commands.projects import Project, make_project
from tests.fixtures.docker_services import ImageFactory, Registry
from tests.image_contract.conftest import BUNDLE, real_sections
from tests.image_contract.reduced import core_base, reduce, ros_base

pytestmark = pytest.mark.docker


class Steps:
    def __init__(self) -> None:
        self.instructions: list[str] = []

    def step(self, number: int, total: int, instruction: str) -> None:
        self.instructions.append(instruction)

    def output(self, line: str) -> None:
        return None


@pytest.fixture(scope="module")
def bases(docker_client: docker.DockerClient, registry: Registry,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """ROS_IMG and CORE_IMG: local images imported from tarballs, tagged."""
    factory = ImageFactory(docker_client, registry, tmp_path_factory.mktemp("bases"),
                           "linux/amd64")
    tags = {}
    for argument, layer in (("ROS_IMG", ros_base()), ("CORE_IMG", core_base())):
        image_id = factory.import_(layer)
        repository, tag = f"simapp-reduced-{argument.lower()}", uuid.uuid4().hex[:8]
        docker_client.api.tag(image_id, repository, tag)
        tags[argument] = f"{repository}:{tag}"
    return tags


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = make_project(tmp_path_factory.mktemp("reduced"), BUNDLE, variants=real_sections())
    result = project.run("render")
    assert result.code == 0, result.err
    return project


def build(client: docker.DockerClient, project: Project, variant: str,
          bases: dict[str, str]) -> tuple[str, Steps]:
    reduced, _, _ = reduce(project.read(f"docker/Dockerfile.{variant}"))
    project.write(f"docker/Dockerfile.{variant}.reduced", reduced)
    steps = Steps()
    tag = f"simapp-reduced:{variant}-{uuid.uuid4().hex[:8]}"
    build_image(client, BuildRequest(project.root, f"docker/Dockerfile.{variant}.reduced", tag,
                                     buildargs=bases), steps)
    return tag, steps


@pytest.fixture(scope="module")
def images(docker_client: docker.DockerClient, project: Project,
           bases: dict[str, str]) -> dict[str, tuple[str, Steps]]:
    return {variant: build(docker_client, project, variant, bases) for variant in ("cpu", "gpu")}


def run(client: docker.DockerClient, image: str, command: str | None = None,
        **options: object) -> str:
    output = client.containers.run(image, command=[command] if command else None, remove=True,
                                   **options)  # type: ignore[call-overload]
    return output.decode()


def test_only_the_network_steps_are_replaced(project: Project):
    reduced, kept, replaced = reduce(project.read("docker/Dockerfile.cpu"))
    assert [" ".join(run.split()).split(" && ")[0] for run in kept] == [
        "ln -sf /opt/ros/noetic/lib/libaws* /usr/local/lib/",
        ". /opt/ros/noetic/setup.bash",  # && colcon build
        "for name in run.sh shutdown.sh debug-reward.diff start_deepracer_node_monitor.py "
        "deepracer_node_monitor_list.txt deepracer_evaluation_node_monitor_list.txt "
        "deepracer_virtual_event_node_monitor_list.txt VERSION; do ln -sfn "
        '"/opt/simapp-scripts/${name}" "/opt/simapp/${name}"; done']
    assert len(replaced) == 8 and all("apt-get" in run or "pip" in run for run in replaced)
    original = [line for line in project.read("docker/Dockerfile.cpu").splitlines()
                if not line.startswith((" ", "RUN"))]
    assert [line for line in reduced.splitlines() if not line.startswith((" ", "RUN"))] \
        == original  # every FROM, COPY, ENV, LABEL, WORKDIR, ENTRYPOINT, CMD as rendered


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_the_image_starts_in_opt_simapp_with_run_sh_there(
        docker_client: docker.DockerClient, images: dict[str, tuple[str, Steps]], variant: str):
    image, steps = images[variant]
    assert steps.instructions[0].startswith("ARG ROS_IMG=ros:noetic-ros-base")
    assert run(docker_client, image, "pwd; ls /opt/simapp/run.sh") == \
        "/opt/simapp\n/opt/simapp/run.sh\n"
    config = docker_client.images.get(image).attrs["Config"]
    assert config["WorkingDir"] == "/opt/simapp"
    assert config["Entrypoint"] == ["/bin/bash", "-c"]
    assert config["Cmd"] == ["./run.sh run distributed_training.launch"]
    assert config["Labels"]["version"] == "5.3.3"
    assert config["Labels"]["maintainer"] == "AWS DeepRacer Community - deepracing.io"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["SAGEMAKER_PROGRAM"] == "start.sh" and env["COLCON_CURRENT_PREFIX"] == "/opt/simapp"
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "all"


def test_the_default_command_runs_run_sh_with_the_colcon_install_sourced(
        docker_client: docker.DockerClient, images: dict[str, tuple[str, Steps]]):
    image, _ = images["cpu"]
    output = run(docker_client, image, environment={"USE_EXTERNAL_X": "true"})
    assert "roslaunch deepracer_simulation_environment distributed_training.launch\n" in output
    assert "cwd /opt/simapp\n" in output
    assert "ROS_SETUP=sourced SIMAPP_SETUP=sourced ROLLOUT_IDX=0\n" in output
    # DRfC's evaluation command is relative to the working directory
    output = run(docker_client, image, "./run.sh run evaluation.launch",
                 environment={"USE_EXTERNAL_X": "true"})
    assert "roslaunch deepracer_simulation_environment evaluation.launch\n" in output


def test_every_role_finds_its_files_with_their_modes(docker_client: docker.DockerClient,
                                                     images: dict[str, tuple[str, Steps]]):
    image, _ = images["gpu"]
    paths = ["/opt/simapp/run.sh", "/opt/simapp/shutdown.sh", "/opt/simapp/debug-reward.diff",
             "/opt/simapp/VERSION", "/opt/code/ml/rl_coach/start.py", "/opt/ml/code/start.sh",
             "/opt/ml/code/redis.conf", "/opt/ml/code/rl_coach.patch", "/opt/ml/code/serve",
             "/root/.sagemaker/config.yaml", "/requirements.txt",
             "/usr/share/glvnd/egl_vendor.d/10_nvidia.json",
             "/opt/simapp/deepracer_node_monitor_list.txt",
             "/opt/simapp/sagemaker_rl_agent/share/sagemaker_rl_agent/package.xml",
             "/usr/local/bin/redis-server"]  # from the redis stage (a stand-in here)
    output = run(docker_client, image, "stat -L -c '%n %a' " + " ".join(paths))
    modes = dict(line.split() for line in output.splitlines())
    assert modes == {path: "755" if path.endswith(("run.sh", "shutdown.sh", "serve", "server"))
                     else "644" for path in paths}
    assert run(docker_client, image, "cat /opt/simapp/VERSION") == "5.3.3\n"
    assert run(docker_client, image, "readlink /opt/simapp/run.sh") == \
        "/opt/simapp-scripts/run.sh\n"


def test_a_development_bundle_mounted_over_opt_simapp_runs_with_the_documented_links(
        docker_client: docker.DockerClient, images: dict[str, tuple[str, Steps]],
        tmp_path: Path):
    image, _ = images["cpu"]
    bundle = tmp_path / "install"  # what build-dev-bundle.sh leaves: a colcon install tree
    bundle.mkdir()
    (bundle / "setup.bash").write_text("export SIMAPP_SETUP=dev-bundle\n")
    for name in ("run.sh", "shutdown.sh", "debug-reward.diff", "VERSION"):  # README's loop
        (bundle / name).symlink_to(f"/opt/simapp-scripts/{name}")
    output = run(docker_client, image, volumes={str(bundle): {"bind": "/opt/simapp",
                                                              "mode": "ro"}},
                 environment={"USE_EXTERNAL_X": "true"})
    assert "roslaunch deepracer_simulation_environment distributed_training.launch\n" in output
    assert "SIMAPP_SETUP=dev-bundle" in output


def test_the_bundle_stage_builds_alone(docker_client: docker.DockerClient, project: Project,
                                       bases: dict[str, str]):
    reduced, _, _ = reduce(project.read("docker/Dockerfile.cpu"))
    project.write("docker/Dockerfile.bundle.reduced", reduced)
    tag = f"simapp-reduced:bundle-{uuid.uuid4().hex[:8]}"
    list(docker_client.api.build(path=str(project.root),
                                 dockerfile="docker/Dockerfile.bundle.reduced", tag=tag,
                                 target="bundle", buildargs=bases, rm=True, decode=True))
    output = run(docker_client, tag, "ls /opt/bundle/install",
                 entrypoint=["/bin/bash", "-c"])
    assert output.split() == ["deepracer_gazebo_system_plugin", "deepracer_msgs",
                              "deepracer_node_monitor", "deepracer_simulation_environment",
                              "sagemaker_rl_agent", "setup.bash"]
