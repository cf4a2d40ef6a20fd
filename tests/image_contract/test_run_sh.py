"""run.sh, the robomaker role: arguments, environment, worker numbers, world edits, hooks.

It runs for real under bash with ``roslaunch`` (and the X tools) replaced by recording stubs
on PATH; /opt/simapp, /mnt/comms, /scripts and the ROS setup are folders in tmp_path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.image_contract.scripts import FILES, Result, Stubs

RUN_SH = FILES / "robomaker" / "run.sh"
TOOLS = ("roslaunch", "xvfb-run", "x11vnc", "jwm", "rqt", "rviz")
WORLDS = "deepracer_simulation_environment/share/deepracer_simulation_environment/worlds"
DEFAULTS = "sagemaker_rl_agent/lib/python3.8/site-packages/markov/defaults.py"

WORLD = """<?xml version="1.0" ?>
<sdf version="1.6">
  <world name="default">
    <physics type="ode">
      <max_step_size>0.001</max_step_size>
      <real_time_factor>1</real_time_factor>
      <real_time_update_rate>1000</real_time_update_rate>
    </physics>
  </world>
</sdf>
"""

# the shape of the bundle's markov/defaults.py that debug-reward.diff edits
DEFAULTS_PY = '''"""Default values (a stand-in)."""

model_metadata = {
    "action_space": [],
}

"""
Default reward function is the centerline.
"""
def reward_function(params):

    distance_from_center = params['distance_from_center']
    track_width = params['track_width']

    marker_1 = 0.1 * track_width
    marker_2 = 0.25 * track_width
    marker_3 = 0.5 * track_width

    reward = 1e-3
    if distance_from_center <= marker_1:
        reward = 1
    elif distance_from_center <= marker_2:
        reward = 0.5
    elif distance_from_center <= marker_3:
        reward = 0.1
    else:
        reward = 1e-3  # likely crashed/ close to off track

    return float(reward)


"""
More defaults follow.
"""
'''


@dataclass
class Robomaker:
    """The folders run.sh works in, and a way to run it."""

    simapp: Path
    comms: Path
    hooks: Path
    stubs: Stubs
    ros: Path

    def run(self, *args: str, **env: str) -> Result:
        base = {"SIMAPP_DIR": str(self.simapp), "SIMAPP_COMMS_DIR": str(self.comms),
                "SIMAPP_HOOKS_DIR": str(self.hooks), "SIMAPP_ROS_DIR": str(self.ros),
                "HOSTNAME": "robomaker-1", "ROS_DISTRO": "noetic"}
        return self.stubs.run(["bash", str(RUN_SH), *args], {**base, **env})


@pytest.fixture
def robomaker(tmp_path: Path) -> Robomaker:
    simapp, comms, hooks, ros = (tmp_path / name for name in ("simapp", "comms", "hooks", "ros"))
    for folder in (simapp / WORLDS, comms, hooks, ros, (simapp / DEFAULTS).parent):
        folder.mkdir(parents=True)
    (ros / "setup.bash").write_text("export ROS_SETUP=sourced\n")
    (simapp / "setup.bash").write_text("export SIMAPP_SETUP=sourced\n")
    (simapp / WORLDS / "reInvent2019_track.world").write_text(WORLD)
    (simapp / DEFAULTS).write_text(DEFAULTS_PY)
    return Robomaker(simapp, comms, hooks, Stubs(tmp_path / "stubs", TOOLS), ros)


@pytest.mark.parametrize("args", [(), ("run",), ("train", "x.launch"),
                                  ("run", "a.launch", "extra")])
def test_wrong_arguments_print_the_usage_and_exit_2(robomaker: Robomaker, args: tuple[str, ...]):
    result = robomaker.run(*args)
    assert result.code == 2
    assert "usage: run.sh run|multi LAUNCH_FILE" in result.err
    assert result.calls == []


def test_run_launches_the_simulation_from_the_simapp_folder_with_ros_sourced(
        robomaker: Robomaker):
    result = robomaker.run("run", "distributed_training.launch")
    assert result.code == 0, result.err
    (launch,) = result.called("roslaunch")
    assert launch.args == ["deepracer_simulation_environment", "distributed_training.launch"]
    assert launch.cwd == str(robomaker.simapp)  # ./setup.bash and ./run.sh resolve there
    assert launch.env == {"DISPLAY": ":0", "XAUTHORITY": "/root/.Xauthority", "ROLLOUT_IDX": "0",
                          "DEEPRACER_JOB_TYPE_ENV": "LOCAL", "IGN_IP": "127.0.0.1",
                          "ROS_SETUP": "sourced", "SIMAPP_SETUP": "sourced"}


def test_without_an_external_x_server_xvfb_jwm_and_vnc_on_5900_start(robomaker: Robomaker):
    result = robomaker.run("run", "evaluation.launch")
    (xvfb,) = result.called("xvfb-run")
    assert xvfb.args == ["-f", "/root/.Xauthority", "-n", "0", "-s", "-screen 0 1400x900x24",
                         "jwm"]
    (vnc,) = result.called("x11vnc")
    assert vnc.args[vnc.args.index("-rfbport") + 1] == "5900"
    assert vnc.args[vnc.args.index("-display") + 1] == "WAIT:0"
    assert result.called("rqt") == result.called("rviz") == []


def test_an_external_x_server_is_used_as_it_is(robomaker: Robomaker):
    result = robomaker.run("run", "evaluation.launch", USE_EXTERNAL_X="true", DISPLAY=":1")
    assert result.code == 0, result.err
    assert result.called("xvfb-run") == result.called("x11vnc") == []
    assert result.called("roslaunch")[0].env["DISPLAY"] == ":1"


def test_enable_gui_adds_rqt_and_rviz(robomaker: Robomaker):
    result = robomaker.run("run", "distributed_training.launch", ENABLE_GUI="true")
    assert len(result.called("rqt")) == len(result.called("rviz")) == 1


def test_roslaunch_failing_fails_the_container(robomaker: Robomaker):
    result = robomaker.run("run", "distributed_training.launch", STUB_EXIT_roslaunch="3")
    assert result.code == 3


def test_multi_takes_the_worker_number_from_the_swarm_slot(robomaker: Robomaker):
    config = {"multi_config": [{"config_file": f"training_params_{n}.yaml",
                                "world_name": f"world{n}"} for n in (1, 2, 3)]}
    result = robomaker.run("multi", "distributed_training.launch", DOCKER_REPLICA_SLOT="3",
                           MULTI_CONFIG=json.dumps(config))
    assert result.code == 0, result.err
    env = result.called("roslaunch")[0].env
    assert (env["ROLLOUT_IDX"], env["S3_YAML_NAME"], env["WORLD_NAME"]) == (
        "2", "training_params_3.yaml", "world3")


def test_multi_without_a_slot_numbers_workers_by_their_line_in_the_comms_file(
        robomaker: Robomaker):
    first = robomaker.run("multi", "distributed_training.launch", HOSTNAME="robomaker-a")
    second = robomaker.run("multi", "distributed_training.launch", HOSTNAME="robomaker-b")
    again = robomaker.run("multi", "distributed_training.launch", HOSTNAME="robomaker-a")
    assert [result.called("roslaunch")[0].env["ROLLOUT_IDX"]
            for result in (first, second, again)] == ["0", "1", "0"]
    assert (robomaker.comms / "workers").read_text().splitlines()[:2] == [
        "robomaker-a", "robomaker-b"]


def test_run_ignores_the_slot_and_a_missing_multi_config_entry_is_an_error(robomaker: Robomaker):
    result = robomaker.run("run", "distributed_training.launch", DOCKER_REPLICA_SLOT="2")
    assert result.called("roslaunch")[0].env["ROLLOUT_IDX"] == "0"
    config = json.dumps({"multi_config": [{"config_file": "a.yaml", "world_name": "w"}]})
    result = robomaker.run("multi", "x.launch", DOCKER_REPLICA_SLOT="2", MULTI_CONFIG=config)
    assert result.code == 2
    assert "MULTI_CONFIG has no entry for worker 1" in result.err
    assert result.called("roslaunch") == []


def test_rtf_override_rewrites_the_worlds_physics_block(robomaker: Robomaker):
    result = robomaker.run("run", "distributed_training.launch", RTF_OVERRIDE="1.5",
                           WORLD_NAME="reInvent2019_track")
    assert result.code == 0, result.err
    world = (robomaker.simapp / WORLDS / "reInvent2019_track.world").read_text()
    assert "<real_time_factor>1.5</real_time_factor>" in world
    assert "<real_time_update_rate>1500</real_time_update_rate>" in world
    assert "<max_step_size>0.001</max_step_size>" in world


def test_debug_reward_applies_its_diff_once(robomaker: Robomaker):
    for _ in range(2):  # a restarted container finds it applied and goes on
        result = robomaker.run("run", "evaluation.launch", DEBUG_REWARD="true")
        assert result.code == 0, result.err
    assert "debug reward: already applied" in result.out
    patched = (robomaker.simapp / DEFAULTS).read_text()
    assert "def centerline_reward_function(params):" in patched
    assert "def reward_function(params):" in patched and "_step_rate.record" in patched
    assert patched.endswith('"""\nMore defaults follow.\n"""\n')


def test_alter_environment_hooks_run_after_the_launch(robomaker: Robomaker):
    for name in ("alter_environment.sh", "alter_environment_1.sh", "alter_environment_0.sh"):
        (robomaker.hooks / name).write_text(f'echo "{name}" >> "$SIMAPP_DIR/hooks.log"\n')
    result = robomaker.run("run", "distributed_training.launch", ROLLOUT_IDX="1")
    assert result.code == 0, result.err
    assert (robomaker.simapp / "hooks.log").read_text().splitlines() == [
        "alter_environment.sh", "alter_environment_1.sh"]
