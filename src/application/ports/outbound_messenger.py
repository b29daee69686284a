"""Messages sent outside any request (`OutboundMessenger`, failing with `MessageNotSent`).
Contract: `tests/contract/test_outbound_messenger.py`."""

from __future__ import annotations

from typing import Protocol


class MessageNotSent(Exception):
    """An outbound message did not go out. `retryable` says whether trying again may help (the
    network, a rate limit, the provider's own failure) or not (a refused number, bad
    credentials). The message never quotes the text that was to be sent."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class OutboundMessenger(Protocol):
    """Sends a text message to a person outside any request (WhatsApp through Twilio)."""

    async def send(self, sender: str, recipient: str, body: str) -> None:
        """Send `body` from our address `sender` to `recipient`. Raises `MessageNotSent`."""
