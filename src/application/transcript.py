"""A chat as a Markdown transcript: for people to read, every message in order, the ones the
model no longer sees marked as such."""

from __future__ import annotations

from chatservice.domain.chat import Chat, Message

#: How a message's speaker is named in its heading.
_SPEAKERS = {"system": "System", "user": "User", "assistant": "Assistant"}


def markdown_transcript(chat: Chat) -> str:
    """`chat` with its whole history as Markdown: a title, the chat's facts, then each message
    under a heading that names its speaker and position and says whether it was erased (out of
    the context window) or superseded (replaced by a newer version)."""
    usage = chat.usage
    lines = [
        f"# {chat.title or 'Untitled chat'}",
        "",
        f"- Chat: `{chat.id}` ({chat.status.value})",
        f"- Model: `{chat.model}`",
        f"- Created: {chat.created_at.isoformat()}; updated: {chat.updated_at.isoformat()}",
        f"- Usage: {usage.prompt_tokens} prompt tokens, "
        f"{usage.completion_tokens} completion tokens",
    ]
    for message in chat.messages:
        lines += ["", f"## {_heading(message)}", "", message.content.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _heading(message: Message) -> str:
    parts = [f"{_SPEAKERS[message.role.value]} · #{message.position}"]
    if message.model is not None:
        parts.append(f"`{message.model}`")
    if message.erased:
        parts.append("*erased: out of the context window*")
    if message.superseded:
        parts.append("*superseded: replaced by a newer version*")
    return " · ".join(parts)
