"""`/openai/v1/conversations`: a conversation is a chat, its items the chat's messages. The user
is the `X-Chatservice-User` header, as for responses (`routes.py`)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from chatservice.application.conversations import (
    DEFAULT_ITEMS,
    MAX_ITEMS,
    AddConversationItems,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversationItems,
)
from chatservice.entrypoints.http.openai.errors import OPENAI_PREFIX, openai_error_responses
from chatservice.entrypoints.http.openai.routes import UserHeader, user_of
from chatservice.entrypoints.http.openai.schemas import (
    ConversationCreate,
    ConversationOut,
    DeletedOut,
    ItemListOut,
    ItemsCreate,
    conversation_out,
    item_list_out,
)

ConversationId = FromPath[str]


class OpenAIConversationsController(Controller):
    path = OPENAI_PREFIX
    tags: ClassVar[list[str]] = ["openai"]  # type: ignore[misc]

    @post(
        "/conversations",
        status_code=200,
        summary="Create a conversation (a chat)",
        responses=openai_error_responses(400, 401, 413, 503),
    )
    async def create_conversation(
        self,
        create_conversation: NamedDependency[CreateConversation],
        data: JSONBody[ConversationCreate | None] = None,
        user: UserHeader = None,
    ) -> ConversationOut:
        data = data or ConversationCreate()
        items = [i.message() for i in data.items or ()]
        return conversation_out(await create_conversation(user_of(user), data.metadata, items))

    @get(
        "/conversations/{conversation_id:str}",
        summary="A conversation",
        responses=openai_error_responses(400, 401, 404, 503),
    )
    async def conversation(
        self,
        conversation_id: ConversationId,
        get_conversation: NamedDependency[GetConversation],
        user: UserHeader = None,
    ) -> ConversationOut:
        return conversation_out(await get_conversation(user_of(user), conversation_id))

    @delete(
        "/conversations/{conversation_id:str}",
        status_code=200,
        summary="Delete a conversation: its chat, its messages and its responses",
        responses=openai_error_responses(400, 401, 404, 409, 503),
    )
    async def remove_conversation(
        self,
        conversation_id: ConversationId,
        delete_conversation: NamedDependency[DeleteConversation],
        user: UserHeader = None,
    ) -> DeletedOut:
        await delete_conversation(user_of(user), conversation_id)
        return DeletedOut(conversation_id, True, "conversation.deleted")

    @get(
        "/conversations/{conversation_id:str}/items",
        summary="A conversation's items: its messages, superseded ones aside",
        responses=openai_error_responses(400, 401, 404, 503),
    )
    async def items(
        self,
        conversation_id: ConversationId,
        list_conversation_items: NamedDependency[ListConversationItems],
        user: UserHeader = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_ITEMS)] = DEFAULT_ITEMS,
        order: FromQuery[Literal["asc", "desc"]] = "desc",
        after: FromQuery[str | None] = None,
    ) -> ItemListOut:
        page = await list_conversation_items(
            user_of(user), conversation_id, limit, after, newest_first=order == "desc"
        )
        return item_list_out(page.items, page.has_more)

    @post(
        "/conversations/{conversation_id:str}/items",
        status_code=200,
        summary="Add messages to a conversation as they are, without the model",
        responses=openai_error_responses(400, 401, 404, 409, 413, 503),
    )
    async def add_items(
        self,
        conversation_id: ConversationId,
        data: JSONBody[ItemsCreate],
        add_conversation_items: NamedDependency[AddConversationItems],
        user: UserHeader = None,
    ) -> ItemListOut:
        items = [i.message() for i in data.items]
        return item_list_out(await add_conversation_items(user_of(user), conversation_id, items))
