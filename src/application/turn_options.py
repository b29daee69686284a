"""A new message's options for its one turn (`TurnOptions`): the claimed chat as that turn sees
it, with other instructions in place of its system message and other sampling parameters.
Nothing of it is stored: the turn commits its messages to the chat as it is."""

from __future__ import annotations

from dataclasses import replace

from chatservice.application.ports import TokenCounter
from chatservice.domain.chat import Chat, Role
from chatservice.domain.models import ModelRegistry
from chatservice.domain.params import RequestedParams, resolve_params
from chatservice.domain.turn import Send, Truncation, TurnAction


def as_asked(
    chat: Chat, action: TurnAction, counter: TokenCounter, registry: ModelRegistry
) -> Chat:
    """`chat` (claimed: its window, the system message first) as the turn of `action` sees it.
    Raises `InvalidInput` for a parameter the chat's model does not take."""
    options = action.options if isinstance(action, Send) else None
    if options is None:
        return chat
    model = registry.lookup(chat.model)
    own = chat.params
    # Checked as a chat's would be; what the options leave unsaid stays the chat's.
    checked = resolve_params(
        model,
        RequestedParams(options.max_output_tokens, options.temperature, options.top_p),
        own.max_completion_tokens,
    )
    params = replace(
        own,
        max_completion_tokens=checked.max_completion_tokens,
        temperature=own.temperature if checked.temperature is None else checked.temperature,
        top_p=own.top_p if checked.top_p is None else checked.top_p,
    )
    messages = chat.messages
    if options.instructions is not None:
        system = messages[0]
        cost = counter.message_cost(model.encoding, Role.SYSTEM, options.instructions)
        messages = [replace(system, content=options.instructions, tokens=cost), *messages[1:]]
    return replace(chat, params=params, messages=messages)


def truncation_refused(action: TurnAction) -> bool:
    """Whether `action` asked that nothing leave its prompt (`Truncation.DISABLED`)."""
    options = action.options if isinstance(action, Send) else None
    return options is not None and options.truncation is Truncation.DISABLED
