"""The Docker Engine adapter: following the build stream (whole lines, the failing step named), and
being the one module that imports the Docker SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.docker_engine import BuildRequest, _follow_build
from sync.errors import BuildError

REQUEST = BuildRequest(context=Path("."), dockerfile="docker/Dockerfile.cpu", tag="x/y:1-cpu")


class Recorder:
    def __init__(self) -> None:
        self.steps: list[tuple[int, int, str]] = []
        self.lines: list[str] = []

    def step(self, number: int, total: int, instruction: str) -> None:
        self.steps.append((number, total, instruction))

    def output(self, line: str) -> None:
        self.lines.append(line)


def test_lines_split_across_events_are_joined_and_steps_reported():
    events = [{"stream": "Step 1/2 : FROM base\n ---> abc\n"},
              {"stream": "Step 2/2 : RUN make"}, {"stream": "\n ---> Running in 1f\ncomp"},
              {"stream": "iling\n\x1b[91mwarning: x\n\x1b[0m"},
              {"aux": {"ID": "sha256:" + "1" * 64}},
              {"stream": "Successfully built 111111111111\n"}]
    recorder = Recorder()
    assert _follow_build(events, REQUEST, recorder) == "sha256:" + "1" * 64
    assert recorder.steps == [(1, 2, "FROM base"), (2, 2, "RUN make")]
    assert recorder.lines == ["compiling", "warning: x"]


def test_an_error_event_names_the_running_step_and_its_last_output():
    events = [{"stream": "Step 1/3 : FROM base\n"}, {"stream": "Step 2/3 : RUN ./configure\n"},
              *({"stream": f"line {n}\n"} for n in range(100)),
              {"errorDetail": {"message": "returned a non-zero code: 2"}, "error": "ignored"}]
    with pytest.raises(BuildError) as raised:
        _follow_build(events, REQUEST, Recorder())
    message = raised.value.message
    assert message.startswith("docker/Dockerfile.cpu: step 2/3 `RUN ./configure` failed: "
                              "returned a non-zero code: 2")
    assert "  | line 99" in message and "  | line 70" in message
    assert "line 69" not in message  # bounded: the last 30 lines only
    assert raised.value.exit_code == 1


def test_an_error_before_any_step_and_a_stream_without_an_image_are_errors():
    with pytest.raises(BuildError, match="before the first step failed: no such file"):
        _follow_build([{"error": "no such file"}], REQUEST, Recorder())
    with pytest.raises(BuildError, match="without an image id"):
        _follow_build([{"stream": "Step 1/1 : FROM base\n"}], REQUEST, Recorder())
