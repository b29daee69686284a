"""What a process imports to start: only what its command and configuration use.

The providers' SDKs and alembic together take longer to import than the rest of the service; each
test runs a fresh interpreter and lists the slow modules it ended up with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REFERENCE = Path(__file__).parents[1] / "support" / "reference_conversation.json"
SLOW = ("openai", "anthropic", "alembic", "chatservice.adapters.twilio_sender")
COUNT_TOKENS = (
    "from chatservice.entrypoints.cli import main\n"
    f"assert main(['tokens', '--model', 'gpt-4o', {str(REFERENCE)!r}]) == 0"
)


def imported_slow_modules(script: str, cwd: Path, among: tuple[str, ...] = SLOW) -> list[str]:
    report = f"import json, sys; print(json.dumps([m for m in {among!r} if m in sys.modules]))"
    # Outside the repository: its alembic/ folder would shadow the alembic package.
    result = subprocess.run(
        [sys.executable, "-c", f"{script}\n{report}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": "/usr/bin", "HOME": "/nonexistent"},
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_counting_tokens_imports_no_provider_sdk_and_no_migrations(tmp_path: Path) -> None:
    assert imported_slow_modules(COUNT_TOKENS, tmp_path) == []


def test_counting_tokens_through_the_container_imports_no_database_library(tmp_path: Path) -> None:
    assert imported_slow_modules(COUNT_TOKENS, tmp_path, among=("sqlalchemy",)) == []


def test_a_service_on_the_fake_model_imports_no_provider_sdk(tmp_path: Path) -> None:
    script = (
        "import asyncio\n"
        "import chatservice.entrypoints.server  # uvicorn and the shutdown path\n"
        "from chatservice.entrypoints.container import build_container\n"
        "from chatservice.entrypoints.grpc.server import create_grpc_server\n"
        "from chatservice.entrypoints.http.app import create_app\n"
        "from chatservice.entrypoints.settings import load_settings\n"
        "container = build_container(load_settings(environ={}))\n"
        "create_app(container)\n"
        "async def grpc():\n"
        "    create_grpc_server(container)\n"
        "asyncio.run(grpc())"
    )
    assert imported_slow_modules(script, tmp_path) == []


def test_the_openai_gateway_brings_its_sdk_when_it_is_built(tmp_path: Path) -> None:
    script = (
        "from chatservice.entrypoints.container import build_container\n"
        "from chatservice.entrypoints.settings import load_settings\n"
        "settings = load_settings(environ={'CHATSERVICE_GATEWAY': 'openai',\n"
        "                                  'CHATSERVICE_OPENAI_API_KEY': 'sk-test'})\n"
        "build_container(settings).gateway()"
    )
    assert imported_slow_modules(script, tmp_path) == ["openai"]


def provider_tables_script(tmp_path: Path, tables: str) -> str:
    config = tmp_path / "chatservice.toml"
    config.write_text(tables)
    return (
        "from chatservice.entrypoints.container import build_container\n"
        "from chatservice.entrypoints.settings import load_settings\n"
        f"settings = load_settings({str(config)!r}, environ={{'OPENAI_API_KEY': 'sk-test',\n"
        "                                                   'ANTHROPIC_API_KEY': 'sk-ant'})\n"
        "build_container(settings).gateways()"
    )


def test_only_the_sdks_of_configured_providers_are_imported(tmp_path: Path) -> None:
    openai_only = '[providers.openai]\nkind = "openai"\n'
    assert imported_slow_modules(provider_tables_script(tmp_path, openai_only), tmp_path) == [
        "openai"
    ]
    both = 'model = "claude-haiku-5-5"\n[providers.anthropic]\nkind = "anthropic"\n' + openai_only
    assert imported_slow_modules(provider_tables_script(tmp_path, both), tmp_path) == [
        "openai",
        "anthropic",
    ]


def test_a_command_that_takes_no_turn_builds_no_gateway_to_close(tmp_path: Path) -> None:
    """`chatservice prune` releases what it opened on exit, and builds no gateway to close."""
    config = tmp_path / "chatservice.toml"
    config.write_text(
        f'database_url = "sqlite+aiosqlite:///{tmp_path}/chatservice.db"\n'
        'model = "claude-haiku-5-5"\n'
        '[providers.anthropic]\nkind = "anthropic"\n[providers.openai]\nkind = "openai"\n'
    )
    script = (
        "import os\n"
        "os.environ.update(OPENAI_API_KEY='sk-test', ANTHROPIC_API_KEY='sk-ant')\n"
        "from chatservice.entrypoints.cli import main\n"
        f"assert main(['--config', {str(config)!r}, 'migrate']) == 0\n"
        f"assert main(['--config', {str(config)!r}, 'prune', '--dry-run']) == 0"
    )
    assert imported_slow_modules(script, tmp_path, among=("openai", "anthropic")) == []
