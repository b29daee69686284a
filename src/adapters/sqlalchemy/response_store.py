"""`SqlAlchemyResponseStore`: the `ResponseStore` port over SQLAlchemy Core (async).

Each record is one row beside its chat; the foreign key on the chat deletes the rows with it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from chatservice.adapters.sqlalchemy.tables import conversations, responses
from chatservice.adapters.sqlalchemy.transactions import Transactions, WriteConflict
from chatservice.domain.errors import ConcurrentUpdate
from chatservice.domain.responses import ConversationRecord, ResponseRecord
from chatservice.domain.turn import Truncation, TurnOptions


class SqlAlchemyResponseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._transactions = Transactions(engine)

    async def add_response(self, record: ResponseRecord) -> None:
        def add(connection: Connection) -> None:
            connection.execute(insert(responses).values(_response_row(record)))

        await self._transactions.run(add, write=True)

    async def find_response(self, user_id: str, response_id: str) -> ResponseRecord | None:
        def find(connection: Connection) -> ResponseRecord | None:
            row = connection.execute(
                select(responses).where(
                    responses.c.id == response_id, responses.c.user_id == user_id
                )
            ).one_or_none()
            return None if row is None else _response(row)

        return await self._transactions.run(find, write=False)

    async def delete_response(self, user_id: str, response_id: str) -> bool:
        def remove(connection: Connection) -> bool:
            removed = connection.execute(
                delete(responses).where(
                    responses.c.id == response_id, responses.c.user_id == user_id
                )
            )
            return bool(removed.rowcount)

        return await self._transactions.run(remove, write=True)

    async def put_conversation(self, record: ConversationRecord) -> None:
        def put(connection: Connection) -> None:
            connection.execute(
                delete(conversations).where(conversations.c.chat_id == record.chat_id)
            )
            connection.execute(
                insert(conversations).values(
                    chat_id=record.chat_id,
                    user_id=record.user_id,
                    metadata=json.dumps(dict(record.metadata)),
                )
            )

        try:
            await self._transactions.run(put, write=True)
        except WriteConflict as error:
            raise ConcurrentUpdate(record.chat_id) from error

    async def find_conversation(self, user_id: str, chat_id: str) -> ConversationRecord | None:
        def find(connection: Connection) -> ConversationRecord | None:
            row = connection.execute(
                select(conversations).where(
                    conversations.c.chat_id == chat_id, conversations.c.user_id == user_id
                )
            ).one_or_none()
            if row is None:
                return None
            return ConversationRecord(row.chat_id, row.user_id, json.loads(row.metadata))

        return await self._transactions.run(find, write=False)


def _response_row(record: ResponseRecord) -> dict[str, Any]:
    options = record.options
    return {
        "id": record.id,
        "user_id": record.user_id,
        "chat_id": record.chat_id,
        "request_id": record.request_id,
        "model": record.model,
        "created_at": record.created_at,
        "options": json.dumps(
            {
                "instructions": options.instructions,
                "max_output_tokens": options.max_output_tokens,
                "temperature": options.temperature,
                "top_p": options.top_p,
                "truncation": options.truncation.value,
            }
        ),
        "metadata": json.dumps(dict(record.metadata)),
        "previous_response_id": record.previous_response_id,
        "in_conversation": record.in_conversation,
        "background": record.background,
    }


def _response(row: Row[Any]) -> ResponseRecord:
    options = json.loads(row.options)
    return ResponseRecord(
        id=row.id,
        user_id=row.user_id,
        chat_id=row.chat_id,
        request_id=row.request_id,
        model=row.model,
        created_at=row.created_at,
        options=TurnOptions(
            instructions=options["instructions"],
            max_output_tokens=options["max_output_tokens"],
            temperature=options["temperature"],
            top_p=options["top_p"],
            truncation=Truncation(options["truncation"]),
        ),
        metadata=json.loads(row.metadata),
        previous_response_id=row.previous_response_id,
        in_conversation=row.in_conversation,
        background=row.background,
    )
