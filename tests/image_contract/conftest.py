"""A simapp checkout with the real template, manifest sections and image files, rendered once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.commands.projects import Project, make_project
from tests.image_contract.model import FinalImage, Stage, final_image, stages

ROOT = Path(__file__).resolve().parents[2]

# a small bundle of the upstream shape: colcon packages under src/, and (added by make_project
# for the real template) rl_coach.patch, the node monitor script and lists
BUNDLE = {
    f"src/{package}/package.xml": f"<package><name>{package}</name></package>\n".encode()
    for package in ("deepracer_gazebo_system_plugin", "deepracer_msgs",
                    "deepracer_simulation_environment", "sagemaker_rl_agent",
                    "deepracer_node_monitor")
} | {"src/sagemaker_rl_agent/markov/training_worker.py": b"print('training')\n"}


def real_sections() -> str:
    """The real manifest's ``variants:`` and ``image_files:`` sections, for make_project."""
    text = (ROOT / "upstream-manifest.yaml").read_text()
    return text[text.index("variants:\n") + len("variants:\n"):]


@dataclass
class Rendered:
    project: Project
    text: dict[str, str]  # variant -> rendered Dockerfile

    def stages(self, variant: str) -> list[Stage]:
        return stages(self.text[variant])

    def image(self, variant: str) -> FinalImage:
        return final_image(self.text[variant], self.project.root)


@pytest.fixture(scope="session")
def rendered_project(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    project = make_project(tmp_path_factory.mktemp("contract"), BUNDLE, variants=real_sections())
    result = project.run("render")
    assert result.code == 0, result.err
    return Rendered(project, {variant: project.read(f"docker/Dockerfile.{variant}")
                              for variant in ("cpu", "gpu")})
