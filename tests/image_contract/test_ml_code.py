"""The ml-code helpers for SageMaker-only jobs: bootstrap arguments, the model validator, the
CloudWatch uploader's command line and batches, and the `train` shim.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from tests.image_contract.scripts import FILES, Stubs

ML_CODE = FILES / "ml-code"


def load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bootstrap() -> types.ModuleType:
    return load(ML_CODE / "sagemaker_bootstrap.py", "sagemaker_bootstrap")


def toolkit_environment(*arguments: str) -> dict[str, str]:
    return {"SM_USER_ARGS": json.dumps(list(arguments)),
            "SM_TRAINING_ENV": json.dumps({"job_name": "job-7"})}


def test_bootstrap_reads_the_toolkits_arguments_and_adds_the_job_name(bootstrap):
    environ = toolkit_environment("--s3_bucket", "b", "--s3_prefix", "p")
    assert bootstrap.user_arguments(environ) == {"--s3_bucket": "b", "--s3_prefix": "p",
                                                 "--job_name": "job-7"}
    with pytest.raises(ValueError, match="pairs"):
        bootstrap.user_arguments(toolkit_environment("--s3_bucket"))


def test_bootstrap_sets_the_training_and_evaluation_environment(bootstrap):
    arguments = {"--s3_bucket": "b", "--s3_prefix": "p", "--aws_region": "eu-west-1",
                 "--job_name": "j", "--world_name": "reInvent2019_track"}
    training = bootstrap.job_environment(arguments, {"PATH": "/bin"})
    assert (training["JOB_TYPE"], training["SIMULATION_LAUNCH_FILE"], training["APP_REGION"],
            training["PATH"]) == ("training", "distributed_training.launch", "eu-west-1", "/bin")
    assert "MODEL_S3_BUCKET" not in training
    evaluation = bootstrap.job_environment(
        {**arguments, "--simulation_launch_file": "evaluation.launch"}, {})
    assert (evaluation["JOB_TYPE"], evaluation["MODEL_S3_BUCKET"],
            evaluation["MODEL_S3_PREFIX"]) == ("evaluation", "b", "p")
    with pytest.raises(ValueError, match="not supported"):
        bootstrap.job_environment({**arguments, "--simulation_launch_file": "x.launch"}, {})


def test_the_model_validator_names_each_problem(tmp_path: Path):
    sys.path.insert(0, str(ML_CODE))
    try:
        validator = load(ML_CODE / "model_validator" / "validator.py", "validator_under_test")
    finally:
        sys.path.remove(str(ML_CODE))
    good = {"action_space": [{"steering_angle": 0, "speed": 1}], "sensor": ["LIDAR"]}
    assert validator.validate_metadata(good) == []
    assert validator.validate_metadata({"action_space": {"speed": [0.5, 4]}}) == []
    assert validator.validate_metadata({"action_space": [], "sensor": ["RADAR"]}) == [
        "action_space is empty", "unknown sensor(s): RADAR"]
    assert validator.validate_metadata([]) == ["model_metadata.json is not a JSON object"]
    with pytest.raises(validator.InvalidModel, match="missing: model_metadata.json"):
        validator.validate_model(tmp_path)
    (tmp_path / "model_metadata.json").write_text(json.dumps(good))
    validator.validate_model(tmp_path)


def test_the_cloudwatch_uploader_command_line_and_batches():
    uploader = load(ML_CODE / "scripts" / "cloudwatch_uploader.py", "cloudwatch_uploader")
    args = uploader.arguments(["--cw_log_group_name", "g", "--cw_log_stream_name", "s",
                               "--log_symlink_file_path", "/opt/ml/simapp.log"])
    assert (args.cw_log_group_name, args.cw_log_stream_name, args.interval) == ("g", "s", 5.0)
    with pytest.raises(SystemExit):
        uploader.arguments(["--cw_log_group_name", "g"])
    lines = [f"line {n}\n" for n in range(2500)] + ["   \n"]
    batches = list(uploader.batches(lines, 1000))
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert batches[0][0] == {"timestamp": 1000, "message": "line 0"}


def test_custom_sagemaker_containers_runs_the_bootstrap_from_ml_code(tmp_path: Path):
    stubs = Stubs(tmp_path, ("python3.8",))
    script = ML_CODE / "custom-sagemaker-containers.sh"
    result = stubs.run(["bash", "-c", f"cd / && bash {script} --x 1 || true"], {})
    # it changes to /opt/ml/code first: absent on this machine, so it stops there, loudly
    assert result.calls == [] and "/opt/ml/code" in result.err
