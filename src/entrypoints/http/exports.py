"""Export and import: a chat as JSON or Markdown, all of a user's chats as JSON Lines, and an
exported chat stored again as a new one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from litestar import Response, Router, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Stream

from chatservice.application.chats import GetChat
from chatservice.application.exports import ExportUserChats, ImportChat
from chatservice.application.transcript import markdown_transcript
from chatservice.entrypoints.http.errors import error_responses
from chatservice.entrypoints.http.export_schemas import (
    ChatExportOut,
    ChatImportIn,
    chat_export,
    imported_chat,
)
from chatservice.entrypoints.http.schemas import ChatOut, chat_out

MARKDOWN = "text/markdown; charset=utf-8"
JSON_LINES = "application/jsonl"
UserId = FromPath[str]
ChatId = FromPath[str]
Format = Annotated[
    Literal["json", "markdown"],
    QueryParameter(description="`json` (the default): the chat as `GET` shows it; `markdown`"),
]


@dataclass
class JsonOrMarkdownOperation(Operation):
    """The OpenAPI operation of a route that answers JSON or, asked for it, Markdown."""

    def __post_init__(self) -> None:
        success = (self.responses or {}).get("200")
        assert isinstance(success, OpenAPIResponse) and success.content is not None
        success.content[MARKDOWN] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))


@dataclass
class JsonLinesOperation(Operation):
    """The OpenAPI operation of a route that answers JSON Lines, one chat export a line."""

    def __post_init__(self) -> None:
        success = (self.responses or {}).get("200")
        assert isinstance(success, OpenAPIResponse)
        success.content = {JSON_LINES: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))}


@get(
    "/v1/users/{user_id:str}/chats/{chat_id:str}/export",
    summary="Export a chat: JSON to import again, or a Markdown transcript to read",
    description=(
        "`format=json`: the chat as `GET` shows it plus `export_version`, which "
        "`POST …/chats/import` takes back. `format=markdown`: a transcript, each message under "
        "a heading that marks it erased or superseded."
    ),
    responses={
        200: ResponseSpec(
            data_container=ChatExportOut,
            description="The chat's export",
            generate_examples=False,
        ),
        **error_responses(400, 401, 404, 503),
    },
    operation_class=JsonOrMarkdownOperation,
    tags=["export"],
)
async def export_chat(
    user_id: UserId,
    chat_id: ChatId,
    get_chat: NamedDependency[GetChat],
    format: Format = "json",
) -> ChatExportOut | Response[str]:
    view = await get_chat(user_id, chat_id)
    if format == "markdown":
        return Response(markdown_transcript(view.chat), media_type=MARKDOWN)
    return chat_export(view)


@get(
    "/v1/users/{user_id:str}/export",
    summary="Export every chat of the user, one JSON export a line",
    description=(
        "JSON Lines, streamed as the chats are read, one at a time: the service's memory does "
        "not grow with the user's data. Each line is what `GET …/chats/{chat_id}/export` gives."
    ),
    responses={
        200: ResponseSpec(
            data_container=str, description="The user's chats, a line each", generate_examples=False
        ),
        **error_responses(400, 401, 503),
    },
    operation_class=JsonLinesOperation,
    media_type=JSON_LINES,
    tags=["export"],
)
async def export_user(
    user_id: UserId,
    export_user_chats: NamedDependency[ExportUserChats],
) -> Stream:
    chats = export_user_chats(user_id)

    async def lines() -> AsyncIterator[bytes]:
        async for view in chats:
            yield msgspec.json.encode(chat_export(view)) + b"\n"

    return Stream(lines())


def import_route(max_bytes: int) -> HTTPRouteHandler:
    """`POST …/chats/import`, taking bodies up to `max_bytes` (an export of a long chat is
    larger than any other request)."""

    @post(
        "/v1/users/{user_id:str}/chats/import",
        status_code=201,
        summary="Import a chat export as a new chat of the user",
        description=(
            "The chat gets new ids and is created now; its messages, their flags, token counts "
            "and usage are the export's. An export that is malformed or inconsistent (positions, "
            "flags, token counts, an unknown model) is refused with 400 and nothing is stored."
        ),
        responses=error_responses(400, 401, 409, 413, 503),
        request_max_body_size=max_bytes,
        tags=["export"],
    )
    async def import_chat(
        user_id: UserId,
        data: Annotated[ChatImportIn, Body()],
        import_chat: NamedDependency[ImportChat],
    ) -> ChatOut:
        return chat_out(await import_chat(user_id, imported_chat(data)))

    return import_chat


def exports_router(max_import_bytes: int) -> Router:
    return Router(
        path="/", route_handlers=[export_chat, export_user, import_route(max_import_bytes)]
    )
