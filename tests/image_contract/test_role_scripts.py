"""The sagemaker role's start.sh, robomaker's shutdown.sh and the ml-code helpers, run for real.

Programs they start (redis-server, python3.8, sleep, nginx, gunicorn) are recording stubs; the
shutdown test runs in a PID namespace of its own, where the script's "PID 1" is a shell of the
test's.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.image_contract.scripts import FILES, Stubs

MARKOV = "/opt/simapp/sagemaker_rl_agent/lib/python3.8/site-packages"


def test_start_sh_starts_redis_then_the_training_worker_with_the_toolkits_arguments(
        tmp_path: Path):
    stubs = Stubs(tmp_path, ("redis-server", "sleep", "python3.8"))
    result = stubs.run(["bash", str(FILES / "sagemaker" / "start.sh"), "--s3_bucket", "bucket",
                        "--s3_prefix", "rl-deepracer-sagemaker"],
                       {"PYTHONPATH": "/already/there", "RUN_ID": "7"})
    assert result.code == 0, result.err
    # Redis starts in the background, the worker after 5 s (with the stubs, when the background
    # redis-server records its call is the scheduler's choice)
    assert sorted(call.name for call in result.calls) == ["python3.8", "redis-server", "sleep"]
    foreground = [call for call in result.calls if call.name != "redis-server"]
    assert [call.name for call in foreground] == ["sleep", "python3.8"]
    assert result.called("redis-server")[0].args == ["/opt/ml/code/redis.conf"]
    assert result.called("sleep")[0].args == ["5"]
    worker = foreground[1]
    assert worker.args == [f"{MARKOV}/markov/training_worker.py", "--s3_bucket", "bucket",
                           "--s3_prefix", "rl-deepracer-sagemaker"]
    assert worker.env["PYTHONPATH"] == f"{MARKOV}/:/already/there"
    assert "RUN_ID=7" in result.out  # the environment is printed for the job's log


def test_start_sh_without_a_pythonpath_sets_only_the_markov_folder(tmp_path: Path):
    stubs = Stubs(tmp_path, ("redis-server", "sleep", "python3.8"))
    result = stubs.run(["bash", str(FILES / "sagemaker" / "start.sh")], {})
    assert result.called("python3.8")[0].env["PYTHONPATH"] == f"{MARKOV}/"


def test_start_sh_fails_with_the_training_worker(tmp_path: Path):
    stubs = Stubs(tmp_path, ("redis-server", "sleep", "python3.8"))
    result = stubs.run(["bash", str(FILES / "sagemaker" / "start.sh")],
                       {"STUB_EXIT_python3_8": "4"})
    assert result.code == 4


def test_shutdown_sh_waits_says_bye_and_terminates_pid_1(tmp_path: Path):
    stubs = Stubs(tmp_path, ("sleep",))
    shutdown = FILES / "robomaker" / "shutdown.sh"
    # PID 1 of the new namespace is this bash: it reports the SIGTERM it gets, then exits
    init = (f'trap "echo pid 1 terminated; exit 0" TERM; bash {shutdown}; '
            'while true; do /bin/sleep 0.1; done')
    started = time.monotonic()
    result = stubs.run(["unshare", "--pid", "--fork", "--kill-child", "bash", "-c", init], {},
                       timeout=30)
    assert time.monotonic() - started < 20
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["Bye!", "pid 1 terminated"]
    (pause,) = result.called("sleep")
    assert pause.args == ["5"]


@pytest.mark.parametrize(("script", "args", "message"), [
    ("ml-code/simulation-entrypoint.sh", [], "usage: simulation-entrypoint.sh COMMAND"),
    ("ml-code/scripts/build_deepracer_ros_packages.sh", ["/nonexistent"],
     "usage: build_deepracer_ros_packages.sh [SOURCE]"),
    ("ml-code/scripts/clean_up_local.sh", ["--everything"], "usage: clean_up_local.sh [-y]"),
    ("ml-code/sageonly.sh", [], "JOB_NAME: set by sagemaker_bootstrap.py"),
    ("ml-code/sageonly_evals.sh", [], "SIMULATION_LAUNCH_FILE: set by sagemaker_bootstrap.py"),
])
def test_the_helpers_refuse_wrong_arguments_or_a_missing_environment(
        tmp_path: Path, script: str, args: list[str], message: str):
    stubs = Stubs(tmp_path, ())
    result = stubs.run(["bash", str(FILES / script), *args], {})
    assert result.code != 0
    assert message in result.err


def test_serve_checks_its_numbers_then_runs_nginx_and_gunicorn(tmp_path: Path):
    stubs = Stubs(tmp_path, ("nginx", "gunicorn"))
    serve = FILES / "ml-code" / "serve"
    refused = stubs.run(["bash", str(serve)], {"MODEL_SERVER_WORKERS": "two"})
    assert refused.code == 2 and "must be numbers" in refused.err
    result = stubs.run(["bash", str(serve)], {"MODEL_SERVER_WORKERS": "3",
                                              "STUB_HOLD_nginx": "1", "STUB_HOLD_gunicorn": "1"})
    assert result.code == 0, result.err
    calls = {call.name: call for call in result.calls}
    assert calls["nginx"].args == ["-c", str(FILES / "ml-code" / "nginx.conf")]
    assert calls["gunicorn"].args == ["--bind", "unix:/tmp/gunicorn.sock", "--workers", "3",
                                      "--timeout", "60", "model_validator.app:app"]


def test_sage_train_sh_is_start_sh_for_sagemaker_plus_robomaker_jobs(tmp_path: Path):
    stubs = Stubs(tmp_path, ("redis-server", "sleep", "python3.8"))
    result = stubs.run(["bash", str(FILES / "ml-code" / "sage-train.sh"), "--x", "1"], {})
    assert result.code == 0, result.err
    assert result.called("python3.8")[0].args == [f"{MARKOV}/markov/training_worker.py", "--x",
                                                  "1"]


def test_the_nginx_config_serves_sagemakers_port_through_the_gunicorn_socket():
    text = (FILES / "ml-code" / "nginx.conf").read_text()
    assert "listen 8080" in text and "server unix:/tmp/gunicorn.sock;" in text


def test_redis_conf_has_the_settings_the_workers_rely_on():
    lines = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1]
             for line in (FILES / "ml-code" / "redis.conf").read_text().splitlines()
             if line and not line.startswith("#")}
    assert lines == {"bind": "0.0.0.0", "port": "6379", "protected-mode": "yes",
                     "maxmemory-policy": "volatile-lfu", "repl-backlog-size": "500mb"}
