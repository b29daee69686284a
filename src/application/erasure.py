"""Erasing a user: every chat of theirs, with its messages, their calls in the usage ledger,
and their WhatsApp records."""

from __future__ import annotations

from functools import partial

from chatservice.application.batches import in_batches
from chatservice.application.ports import ChatRepository, WhatsAppDirectory
from chatservice.domain.chat import validate_user_id


class EraseUser:
    def __init__(
        self, repository: ChatRepository, directory: WhatsAppDirectory, batch_size: int
    ) -> None:
        """`batch_size`: the chats (and WhatsApp records) one transaction deletes, so that no
        transaction holds its locks long (the `deletion_batch_size` setting)."""
        self._repository = repository
        self._directory = directory
        self._batch_size = batch_size

    async def __call__(self, user_id: str) -> int:
        """Delete everything stored of `user_id`, batch by batch; return how many chats went.

        Erasing a user with nothing stored is no error (a retried erasure finds nothing). A turn
        running on one of the chats meanwhile fails at its commit (`ConcurrentUpdate`) and
        stores nothing. Raises `InvalidInput` for a bad user id, `StorageUnavailable` when the
        database fails part-way: what went is gone, and running it again finishes the rest."""
        validate_user_id(user_id)
        chats = await in_batches(
            partial(self._repository.delete_user_chats, user_id), self._batch_size
        )
        # The ledger outlives deleted chats, not the user it is about.
        await in_batches(partial(self._repository.delete_user_usage, user_id), self._batch_size)
        # A WhatsApp user's id is their sender address (`whatsapp:+…`).
        while await self._directory.forget_sender(user_id, self._batch_size):
            pass
        return chats
