"""The `chatservice` command: serve, migrate, prune, tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from chatservice.application.retention import PruneReport
from chatservice.domain.errors import ChatServiceError, InvalidInput
from chatservice.domain.tokens import prompt_cost
from chatservice.entrypoints.container import Container, build_container, close_resources
from chatservice.entrypoints.logs import configure_logging
from chatservice.entrypoints.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatservice", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (else $CHATSERVICE_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser(
        "serve", help="serve HTTP (and gRPC) until SIGTERM or SIGINT"
    )
    serve_command.add_argument(
        "--workers",
        help="processes serving the same ports (a number, or auto: one per core); "
        "overrides the workers setting",
    )
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    prune_command = commands.add_parser(
        "prune",
        help="delete the chats and WhatsApp records older than retention allows, once",
    )
    prune_command.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
    )
    tokens = commands.add_parser("tokens", help="count the prompt tokens of a JSON message list")
    tokens.add_argument("--model", required=True)
    tokens.add_argument("file", help="a JSON list of {role, content[, name]}; - reads stdin")
    args = parser.parse_args(argv)
    try:
        given = {"workers": args.workers} if getattr(args, "workers", None) else {}
        settings = load_settings(args.config, overrides=given)
        if args.command == "tokens":
            return count_tokens(Container(settings=settings), args.model, args.file)
        if args.command == "migrate":
            return migrate(Container(settings=settings))
        if args.command == "prune":
            return prune(build_container(settings), dry_run=args.dry_run)
        return serve(settings)
    # Any of the service's own errors (a bad input, a database down, a prune batch that kept
    # losing to writers) is one line, never a traceback.
    except (SettingsError, ChatServiceError) as exc:
        print(f"chatservice: {exc}", file=sys.stderr)
        return 2


def count_tokens(container: Container, model_name: str, source: str) -> int:
    model = container.registry().lookup(model_name)
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        messages = json.loads(text)
        if not isinstance(messages, list):
            raise ValueError("expected a JSON list of messages")
        counter = container.counter()
        total = prompt_cost(
            counter.message_cost(model.encoding, m["role"], m["content"], m.get("name"))
            for m in messages
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            f"{source}: not a list of {{role, content[, name]}} messages ({exc})"
        ) from None
    print(total)
    return 0


def migrate(container: Container) -> int:
    container.migrations().upgrade_to_head()
    print("schema is up to date")
    return 0


def prune(container: Container, dry_run: bool) -> int:
    """Delete (or count) what retention no longer keeps, on a schema that is current."""
    if not container.migrations().schema_is_current():
        print(
            "chatservice: the database schema is not current; run `chatservice migrate` first",
            file=sys.stderr,
        )
        return 2

    async def run() -> PruneReport:
        try:
            return await container.prune_expired_data()(dry_run=dry_run)
        finally:
            await close_resources(container)

    report = asyncio.run(run())
    settings = container.settings()
    verb = "would delete" if dry_run else "deleted"
    print(
        f"{verb} {report.chats} chats not updated for {settings.retention_days} days "
        f"(0: kept for good) and {report.whatsapp_messages} WhatsApp message records older "
        f"than {settings.twilio_dedupe_days} days"
    )
    return 0


def serve(settings: Settings) -> int:
    # The servers are slow to import, and only this command needs them.
    from chatservice.entrypoints.server import announce, serve_until_stopped

    configure_logging(settings.log_level, settings.log_format, with_pid=settings.worker_count > 1)
    generated_token = None
    if not settings.auth_tokens:
        generated_token = secrets.token_urlsafe(24)
        settings = settings.model_copy(update={"auth_tokens": (generated_token,)})
    container = build_container(settings)  # checks the configuration before touching the database
    migrations = container.migrations()
    if settings.database_url.startswith("sqlite"):
        migrations.upgrade_to_head()
    elif not migrations.schema_is_current():
        print(
            "chatservice: the database schema is not current; run `chatservice migrate` first",
            file=sys.stderr,
        )
        return 2
    if settings.worker_count == 1:
        ports = (settings.http_port, settings.grpc_port)
        serve_until_stopped(container, lambda: announce(settings.host, *ports, generated_token))
        return 0
    from chatservice.entrypoints.workers import serve_with_workers

    return serve_with_workers(settings, generated_token)


if __name__ == "__main__":
    sys.exit(main())
