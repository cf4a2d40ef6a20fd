"""Checks that a model's files are complete and its metadata describes a usable action space."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REQUIRED_FILES = ("model_metadata.json",)
SENSORS = {"FRONT_FACING_CAMERA", "STEREO_CAMERAS", "LIDAR", "SECTOR_LIDAR",
           "DISCRETIZED_SECTOR_LIDAR"}


class InvalidModel(Exception):
    """The model cannot be used; the message says why."""


def validate_metadata(metadata: Any) -> list[str]:
    """Problems with a parsed model_metadata.json (empty when it is valid)."""
    if not isinstance(metadata, dict):
        return ["model_metadata.json is not a JSON object"]
    problems = []
    actions = metadata.get("action_space")
    if isinstance(actions, list):
        if not actions:
            problems.append("action_space is empty")
        for index, action in enumerate(actions):
            if not isinstance(action, dict) or not {"steering_angle", "speed"} <= set(action):
                problems.append(f"action_space[{index}] needs steering_angle and speed")
    elif not isinstance(actions, dict):
        problems.append("action_space must be a list (discrete) or an object (continuous)")
    sensors = metadata.get("sensor", ["FRONT_FACING_CAMERA"])
    unknown = [sensor for sensor in sensors if sensor not in SENSORS]
    if unknown:
        problems.append(f"unknown sensor(s): {', '.join(map(str, unknown))}")
    return problems


def validate_model(directory: Path) -> None:
    """Raise ``InvalidModel`` unless ``directory`` holds a usable model."""
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise InvalidModel(f"missing: {', '.join(missing)}")
    try:
        metadata = json.loads((directory / "model_metadata.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidModel(f"model_metadata.json: {error}") from None
    problems = validate_metadata(metadata)
    if problems:
        raise InvalidModel("; ".join(problems))
