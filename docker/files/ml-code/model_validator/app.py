"""The validator as a SageMaker inference app: GET /ping, POST /invocations {"model_dir": ...}."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, request

from model_validator.validator import InvalidModel, validate_model

app = Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():  # noqa: ANN201 - a Flask view
    """Health check."""
    return "", 200


@app.route("/invocations", methods=["POST"])
def invocations():  # noqa: ANN201 - a Flask view
    """Validate the model folder named in the request body."""
    body = request.get_json(silent=True) or {}
    directory = body.get("model_dir")
    if not isinstance(directory, str):
        return jsonify({"valid": False, "error": "model_dir (a path) is required"}), 400
    try:
        validate_model(Path(directory))
    except InvalidModel as error:
        return jsonify({"valid": False, "error": str(error)}), 200
    return jsonify({"valid": True}), 200
