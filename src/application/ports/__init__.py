"""The ports the use cases need. Adapters implement them; `tests/contract` holds each one to it.

One module per port, with the records it takes and gives: `chat_gateway.py` (`ChatGateway`, the
completion's request and events), `token_counter.py`, `chat_repository.py` (`ChatRepository`, a
turn's claim, a stored turn, a page's cursor, a chat's head), `whatsapp_directory.py`,
`leases.py`, `response_store.py` and `outbound_messenger.py` (with `MessageNotSent`). Import
them from here: this package is the one place ports come from.
"""

from chatservice.application.ports.chat_gateway import (
    ChatGateway,
    CompletionEnd,
    CompletionRequest,
    PromptMessage,
    TextDelta,
)
from chatservice.application.ports.chat_repository import (
    ChatCursor,
    ChatHead,
    ChatRepository,
    ErasedSinceSummary,
    StoredTurn,
    TurnClaim,
)
from chatservice.application.ports.leases import Leases
from chatservice.application.ports.outbound_messenger import MessageNotSent, OutboundMessenger
from chatservice.application.ports.response_store import ResponseStore
from chatservice.application.ports.token_counter import TokenCounter
from chatservice.application.ports.whatsapp_directory import WhatsAppDirectory

__all__ = [
    "ChatCursor",
    "ChatGateway",
    "ChatHead",
    "ChatRepository",
    "CompletionEnd",
    "CompletionRequest",
    "ErasedSinceSummary",
    "Leases",
    "MessageNotSent",
    "OutboundMessenger",
    "PromptMessage",
    "ResponseStore",
    "StoredTurn",
    "TextDelta",
    "TokenCounter",
    "TurnClaim",
    "WhatsAppDirectory",
]
