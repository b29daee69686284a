"""`/v1/users/{user_id}`: a user as a whole."""

from __future__ import annotations

from litestar import delete
from litestar.di import NamedDependency
from litestar.params import FromPath

from chatservice.application.erasure import EraseUser
from chatservice.entrypoints.http.errors import error_responses


@delete(
    "/v1/users/{user_id:str}",
    status_code=204,
    summary="Erase a user: every chat, message and WhatsApp record of theirs, for good",
    description=(
        "Deleted in batches of short transactions, so no lock is held long. A turn running on "
        "one of the user's chats meanwhile fails (409) and stores nothing. Erasing a user with "
        "nothing stored is a 204 too; after a 503, erasing again finishes the rest."
    ),
    responses=error_responses(400, 401, 409, 503),
    tags=["users"],
)
async def erase_user(user_id: FromPath[str], erase_user: NamedDependency[EraseUser]) -> None:
    await erase_user(user_id)
