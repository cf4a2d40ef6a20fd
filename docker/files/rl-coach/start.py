"""The rl_coach role: start the training job on this machine, in SageMaker SDK local mode.

DeepRacer-for-Cloud runs ``python3 /opt/code/ml/rl_coach/start.py`` in the ``rl_coach``
container, with the host's Docker socket and /tmp/sagemaker mounted. This script reads the job
from the environment, downloads the hyperparameters from S3, and runs a SageMaker *local*
Estimator on ``SAGEMAKER_IMAGE`` (the same simapp image, in its sagemaker role), which the SDK
starts through the socket with docker-compose. It blocks until the job ends.

Environment (defaults in brackets):
    AWS_REGION [us-east-1], S3_ENDPOINT_URL [AWS's]
    MODEL_S3_BUCKET, MODEL_S3_PREFIX          where the model goes (the prefix is the job name)
    HYPERPARAMETER_FILE_S3_KEY [custom_files/hyperparameters.json]   in MODEL_S3_BUCKET
    MODELMETADATA_FILE_S3_KEY [custom_files/model_metadata.json]     in MODEL_S3_BUCKET
    PRETRAINED [false], PRETRAINED_S3_BUCKET [bucket], PRETRAINED_S3_PREFIX
        [rl-deepracer-pretrained], PRETRAINED_CHECKPOINT [best]   start from an earlier model
    SAGEMAKER_IMAGE                           the image of the training job (required)
    RUN_ID, TELEGRAF_HOST, TELEGRAF_PORT [8092], MAX_MEMORY_STEPS, CUDA_VISIBLE_DEVICES
        forwarded into the training job

The job runs on ``local_gpu`` when the image's tag names the gpu variant (``...:5.3.3-gpu``),
else on ``local``. 5.3.3 looked for "gpu" anywhere in the reference, so that a registry or
repository name containing "gpu" picked the GPU for a cpu image; only the tag counts here.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRUE_WORDS = ("yes", "true", "t", "1")
JOB_SECONDS = 24 * 60 * 60
ROLE = "aaa/"  # local mode runs no IAM check, but the SDK wants a role-shaped string


class ConfigurationError(Exception):
    """The environment does not describe a job that can start."""


@dataclass(frozen=True)
class Job:
    """What the environment asks for."""

    region: str
    endpoint_url: str | None
    bucket: str
    prefix: str
    hyperparameter_key: str
    model_metadata_key: str
    image: str
    pretrained: bool
    pretrained_bucket: str
    pretrained_prefix: str
    pretrained_checkpoint: str

    @property
    def instance_type(self) -> str:
        """``local_gpu`` for an image whose tag names the gpu variant, else ``local``."""
        return "local_gpu" if "gpu" in image_tag(self.image) else "local"


def image_tag(reference: str) -> str:
    """The tag of an image reference ("" when it has none): what follows the last colon of the
    last path component, without a digest."""
    name = reference.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.partition(":")[2]


def job_from(environ: Mapping[str, str]) -> Job:
    """Read the job from ``environ``; ``ConfigurationError`` names what is missing."""
    missing = [name for name in ("MODEL_S3_BUCKET", "MODEL_S3_PREFIX", "SAGEMAKER_IMAGE")
               if not environ.get(name)]
    if missing:
        raise ConfigurationError(f"not set: {', '.join(missing)}")
    return Job(
        region=environ.get("AWS_REGION") or "us-east-1",
        endpoint_url=environ.get("S3_ENDPOINT_URL") or None,
        bucket=environ["MODEL_S3_BUCKET"],
        prefix=environ["MODEL_S3_PREFIX"],
        hyperparameter_key=environ.get("HYPERPARAMETER_FILE_S3_KEY")
        or "custom_files/hyperparameters.json",
        model_metadata_key=environ.get("MODELMETADATA_FILE_S3_KEY")
        or "custom_files/model_metadata.json",
        image=environ["SAGEMAKER_IMAGE"],
        pretrained=environ.get("PRETRAINED", "false").lower() in TRUE_WORDS,
        pretrained_bucket=environ.get("PRETRAINED_S3_BUCKET") or "bucket",
        pretrained_prefix=environ.get("PRETRAINED_S3_PREFIX") or "rl-deepracer-pretrained",
        pretrained_checkpoint=environ.get("PRETRAINED_CHECKPOINT") or "best",
    )


def job_environment(job: Job, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables forwarded into the training container."""
    forwarded = {"RUN_ID": environ.get("RUN_ID") or "Unknown"}
    if environ.get("TELEGRAF_HOST"):
        forwarded["TELEGRAF_HOST"] = environ["TELEGRAF_HOST"]
        forwarded["TELEGRAF_PORT"] = environ.get("TELEGRAF_PORT") or "8092"
    if environ.get("MAX_MEMORY_STEPS", "").isdigit():
        forwarded["MAX_MEMORY_STEPS"] = environ["MAX_MEMORY_STEPS"]
    if job.instance_type == "local_gpu" and environ.get("CUDA_VISIBLE_DEVICES"):
        forwarded["CUDA_VISIBLE_DEVICES"] = environ["CUDA_VISIBLE_DEVICES"]
    return forwarded


def hyperparameters(job: Job, region: str, downloaded: Mapping[str, Any]) -> dict[str, Any]:
    """The training worker's arguments: where the model lives, then the user's file on top."""
    core: dict[str, Any] = {
        "s3_bucket": job.bucket,
        "s3_prefix": job.prefix,
        "aws_region": region,
        "model_metadata_s3_key": f"s3://{job.bucket}/{job.model_metadata_key}",
    }
    if job.pretrained:
        core["pretrained_s3_bucket"] = job.pretrained_bucket
        core["pretrained_s3_prefix"] = job.pretrained_prefix
        core["pretrained_checkpoint"] = job.pretrained_checkpoint
    return {**core, **downloaded}


def download_json(s3_client: Any, bucket: str, key: str) -> dict[str, Any]:
    """The JSON object at s3://bucket/key."""
    buffer = io.BytesIO()
    s3_client.download_fileobj(bucket, key, buffer)
    document = json.loads(buffer.getvalue().decode("utf-8"))
    if not isinstance(document, dict):
        raise ConfigurationError(f"s3://{bucket}/{key}: not a JSON object")
    return document


def main(environ: Mapping[str, str] = os.environ) -> int:
    """Start the job and wait for it; 2 when the environment is incomplete."""
    try:
        job = job_from(environ)
    except ConfigurationError as error:
        print(f"start.py: {error}", file=sys.stderr)
        return 2
    # imported here, so that the module (and its tests) load without the SDK
    import boto3
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession

    boto_session = boto3.session.Session(region_name=job.region)
    s3_client = boto_session.client("s3", endpoint_url=job.endpoint_url)
    session = LocalSession(boto_session=boto_session, s3_endpoint_url=job.endpoint_url)
    print(f"Using image {job.image} on {job.instance_type}")
    print(f"Model checkpoints and metadata go to s3://{job.bucket}/{job.prefix}")
    params = hyperparameters(job, session.boto_region_name,
                             download_json(s3_client, job.bucket, job.hyperparameter_key))
    print(f"Hyperparameters: {params}")
    estimator = Estimator(
        sagemaker_session=session,
        role=ROLE,
        instance_type=job.instance_type,
        instance_count=1,
        output_path=f"s3://{job.bucket}/",
        image_uri=job.image,
        hyperparameters=params,
        max_run=JOB_SECONDS,
        metric_definitions=[{"Name": "Entropy", "Regex": "Entropy=(.*?),"}],
        environment=job_environment(job, environ),
    )
    estimator.fit(job_name=job.prefix, wait=True)  # blocks until the job stops
    return 0


if __name__ == "__main__":
    sys.exit(main())
