"""start.py, the rl_coach role: the job it starts, from the environment DeepRacer-for-Cloud sets.

The SageMaker SDK is replaced at start.py's import seam (``sagemaker.estimator.Estimator`` and
``sagemaker.local.LocalSession``, imported inside ``main``) by recorders; boto3 is the real
one, downloading the hyperparameters from a small S3 endpoint on loopback (S3_ENDPOINT_URL, as
DRfC's minio is reached).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.image_contract.scripts import FILES

HYPERPARAMETERS = {"batch_size": 64, "lr": 0.0003, "num_epochs": 10}


def load_start() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("rl_coach_start",
                                                  FILES / "rl-coach" / "start.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


class S3Handler(BaseHTTPRequestHandler):
    """HEAD and GET of path-style objects from ``server.objects``; 404 otherwise."""

    def _object(self) -> bytes | None:
        return self.server.objects.get(self.path.split("?", 1)[0])  # type: ignore[attr-defined]

    def do_HEAD(self) -> None:  # noqa: N802 - the http.server protocol
        data = self._object()
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.send_header("ETag", '"1"')
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        data = self._object()
        if data is None:
            body = b"<Error><Code>NoSuchKey</Code></Error>"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"1"')
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None


@pytest.fixture
def s3() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), S3Handler)
    server.objects = {  # type: ignore[attr-defined]
        "/bucket/custom_files/hyperparameters.json": json.dumps(HYPERPARAMETERS).encode()}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Recorded:
    """What the replaced SDK saw."""

    def __init__(self) -> None:
        self.estimators: list[dict[str, Any]] = []
        self.fits: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    recorded = Recorded()

    class Estimator:
        def __init__(self, **kwargs: Any) -> None:
            recorded.estimators.append(kwargs)

        def fit(self, **kwargs: Any) -> None:
            recorded.fits.append(kwargs)

    class LocalSession:
        def __init__(self, **kwargs: Any) -> None:
            recorded.sessions.append(kwargs)
            self.boto_region_name = kwargs["boto_session"].region_name

    package = types.ModuleType("sagemaker")
    estimator = types.ModuleType("sagemaker.estimator")
    local = types.ModuleType("sagemaker.local")
    estimator.Estimator = Estimator  # type: ignore[attr-defined]
    local.LocalSession = LocalSession  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sagemaker", package)
    monkeypatch.setitem(sys.modules, "sagemaker.estimator", estimator)
    monkeypatch.setitem(sys.modules, "sagemaker.local", local)
    return recorded


def drfc_environment(s3: str, **extra: str) -> dict[str, str]:
    """What DRfC's rl_coach service sets (docker-compose-training.yml and its overlays)."""
    return {"AWS_REGION": "us-east-1", "S3_ENDPOINT_URL": s3,
            "AWS_ACCESS_KEY_ID": "minio", "AWS_SECRET_ACCESS_KEY": "miniokey",
            "MODEL_S3_BUCKET": "bucket", "MODEL_S3_PREFIX": "rl-deepracer-sagemaker",
            "HYPERPARAMETER_FILE_S3_KEY": "custom_files/hyperparameters.json",
            "MODELMETADATA_FILE_S3_KEY": "custom_files/model_metadata.json",
            "SAGEMAKER_IMAGE": "awsdeepracercommunity/deepracer-simapp:5.3.3-cpu",
            "RUN_ID": "0", "PRETRAINED": "False", "MAX_MEMORY_STEPS": "", **extra}


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # boto3 reads credentials and config from the environment: only the test's own
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


def run_main(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> int:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)  # boto3 takes the credentials from os.environ
    return load_start().main(environ)


def test_a_cpu_image_trains_locally_with_the_downloaded_hyperparameters(
        s3: str, sdk: Recorded, monkeypatch: pytest.MonkeyPatch):
    assert run_main(monkeypatch, drfc_environment(s3)) == 0
    (estimator,) = sdk.estimators
    assert estimator["instance_type"] == "local"
    assert estimator["image_uri"] == "awsdeepracercommunity/deepracer-simapp:5.3.3-cpu"
    assert estimator["instance_count"] == 1
    assert estimator["output_path"] == "s3://bucket/"
    assert estimator["hyperparameters"] == {
        "s3_bucket": "bucket", "s3_prefix": "rl-deepracer-sagemaker", "aws_region": "us-east-1",
        "model_metadata_s3_key": "s3://bucket/custom_files/model_metadata.json",
        **HYPERPARAMETERS}
    assert estimator["environment"] == {"RUN_ID": "0"}
    assert sdk.sessions[0]["s3_endpoint_url"] == s3
    assert sdk.fits == [{"job_name": "rl-deepracer-sagemaker", "wait": True}]  # it blocks


def test_a_gpu_image_trains_on_local_gpu_and_gets_the_cuda_devices_and_telemetry(
        s3: str, sdk: Recorded, monkeypatch: pytest.MonkeyPatch):
    environ = drfc_environment(
        s3, SAGEMAKER_IMAGE="localhost:5000/me/deepracer-simapp:5.3.3-gpu",
        CUDA_VISIBLE_DEVICES="1", TELEGRAF_HOST="telegraf", MAX_MEMORY_STEPS="5000", RUN_ID="3")
    assert run_main(monkeypatch, environ) == 0
    (estimator,) = sdk.estimators
    assert estimator["instance_type"] == "local_gpu"
    assert estimator["environment"] == {"RUN_ID": "3", "TELEGRAF_HOST": "telegraf",
                                        "TELEGRAF_PORT": "8092", "MAX_MEMORY_STEPS": "5000",
                                        "CUDA_VISIBLE_DEVICES": "1"}


def test_a_pretrained_model_is_named_in_the_hyperparameters(s3: str, sdk: Recorded,
                                                            monkeypatch: pytest.MonkeyPatch):
    environ = drfc_environment(s3, PRETRAINED="True", PRETRAINED_S3_BUCKET="bucket",
                               PRETRAINED_S3_PREFIX="rl-deepracer-old",
                               PRETRAINED_CHECKPOINT="last")
    assert run_main(monkeypatch, environ) == 0
    parameters = sdk.estimators[0]["hyperparameters"]
    assert (parameters["pretrained_s3_bucket"], parameters["pretrained_s3_prefix"],
            parameters["pretrained_checkpoint"]) == ("bucket", "rl-deepracer-old", "last")


@pytest.mark.parametrize(("image", "expected"), [
    ("awsdeepracercommunity/deepracer-simapp:5.3.3-gpu", "local_gpu"),
    ("awsdeepracercommunity/deepracer-simapp:5.3.3-cpu", "local"),
    # 5.3.3 looked for "gpu" anywhere: these picked the GPU for a cpu image
    ("gpu-farm.example:5000/deepracer-simapp:5.3.3-cpu", "local"),
    ("me/deepracer-simapp-gpu-tests:5.3.3-cpu", "local"),
    ("me/deepracer-simapp:5.3.3-gpu@sha256:" + "a" * 64, "local_gpu"),
    ("me/deepracer-simapp", "local"),
])
def test_the_instance_type_follows_the_images_tag(image: str, expected: str):
    start = load_start()
    job = start.job_from({"MODEL_S3_BUCKET": "b", "MODEL_S3_PREFIX": "p",
                          "SAGEMAKER_IMAGE": image})
    assert job.instance_type == expected


def test_cuda_devices_are_not_forwarded_to_a_cpu_job():
    start = load_start()
    environ = {"MODEL_S3_BUCKET": "b", "MODEL_S3_PREFIX": "p", "SAGEMAKER_IMAGE": "x:5-cpu",
               "CUDA_VISIBLE_DEVICES": "0", "MAX_MEMORY_STEPS": "many"}
    assert start.job_environment(start.job_from(environ), environ) == {"RUN_ID": "Unknown"}


def test_a_missing_image_or_bucket_stops_before_any_sdk_call(
        sdk: Recorded, capsys: pytest.CaptureFixture[str]):
    assert load_start().main({"MODEL_S3_PREFIX": "p"}) == 2
    assert "start.py: not set: MODEL_S3_BUCKET, SAGEMAKER_IMAGE" in capsys.readouterr().err
    assert sdk.estimators == [] and sdk.sessions == []
