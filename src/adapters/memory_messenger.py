"""`InMemoryOutboundMessenger`: the `OutboundMessenger` contract kept in a list.

For unit tests and experiments only: nothing leaves the process. It records every message it is
given and fails as scripted, as a provider would (retryable or not), and passes the same contract
suite as the Twilio messenger.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from chatservice.application.ports import MessageNotSent


class SentMessage(NamedTuple):
    sender: str
    recipient: str
    body: str


class InMemoryOutboundMessenger:
    def __init__(self) -> None:
        #: What was sent, oldest first.
        self.sent: list[SentMessage] = []
        #: Every call to `send`, refused ones included.
        self.attempts = 0
        self._failures: deque[bool] = deque()

    def fail_next(self, *retryable: bool) -> None:
        """Refuse the coming sends, one per flag: retryable (an outage, a rate limit) or not (a
        refused number, bad credentials); then send again."""
        self._failures.extend(retryable)

    async def send(self, sender: str, recipient: str, body: str) -> None:
        self.attempts += 1
        if self._failures:
            retryable = self._failures.popleft()
            reason = "provider unavailable" if retryable else "refused by the provider"
            raise MessageNotSent(f"{reason} (scripted)", retryable)
        self.sent.append(SentMessage(sender, recipient, body))
