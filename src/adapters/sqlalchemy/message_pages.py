"""A page of a chat's messages as its conversation reads now (`ChatRepository.list_messages`):
its user and assistant messages not superseded, erased or not, in position order.

Those are two ranges of the window index, the erased messages' and the others', each read from
where the page starts for at most a page of rows; the page is the first `limit` of the two
merged. However long the history, and however it divides into erased and not, a page reads at
most twice its length (tests/integration/test_item_page_cost.py).
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, false, select

from chatservice.adapters.sqlalchemy.dialects import MYSQL_DIALECTS
from chatservice.adapters.sqlalchemy.rows import message_from
from chatservice.adapters.sqlalchemy.tables import WINDOW_INDEX, messages
from chatservice.domain.chat import Message, Role
from chatservice.domain.errors import MessageNotFound

#: Past every position a chat's messages have (the column is a 32-bit integer).
_BEYOND_LAST = 2**31 - 1

_SHOWN = (
    messages.c.chat_id == bindparam("chat"),
    messages.c.superseded == false(),
    messages.c.role != Role.SYSTEM.value,
)
_FORWARD = (
    select(messages)
    .where(
        *_SHOWN, messages.c.erased == bindparam("erased"), messages.c.position > bindparam("start")
    )
    .order_by(messages.c.position)
)
_BACKWARD = (
    select(messages)
    .where(
        *_SHOWN, messages.c.erased == bindparam("erased"), messages.c.position < bindparam("start")
    )
    .order_by(messages.c.position.desc())
)
_POSITION_OF = select(messages.c.position).where(*_SHOWN, messages.c.id == bindparam("message"))
for _dialect in MYSQL_DIALECTS:
    # As for a turn's reads: the optimizer could pick the primary key and walk the history.
    _FORWARD = _FORWARD.with_hint(messages, f"FORCE INDEX ({WINDOW_INDEX})", _dialect)
    _BACKWARD = _BACKWARD.with_hint(messages, f"FORCE INDEX ({WINDOW_INDEX})", _dialect)


def page(
    connection: Connection, chat_id: str, limit: int, after: str | None, newest_first: bool
) -> list[Message]:
    """Up to `limit` of the messages, the newest first when `newest_first`, from the one after
    the message `after` in that order; `MessageNotFound` when `after` is not one of them."""
    if after is None:
        start = _BEYOND_LAST if newest_first else -1
    else:
        position: int | None = connection.scalar(_POSITION_OF, {"chat": chat_id, "message": after})
        if position is None:
            raise MessageNotFound(after)
        start = position
    query = (_BACKWARD if newest_first else _FORWARD).limit(limit)
    found = [
        message_from(row)
        for erased in (False, True)
        for row in connection.execute(query, {"chat": chat_id, "erased": erased, "start": start})
    ]
    found.sort(key=lambda m: m.position, reverse=newest_first)
    return found[:limit]
