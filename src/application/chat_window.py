"""How full a chat's context window is, counted as its next turn would count it, and a chat
as every transport shows it: with that window."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from chatservice.application.calibration import TokenCalibration
from chatservice.domain.chat import Chat, WindowUse, window_use
from chatservice.domain.errors import InvalidInput
from chatservice.domain.models import ModelRegistry


@dataclass(frozen=True)
class ChatView:
    """A chat with all its messages and its window (`ChatWindow`), as the use cases that
    answer with one chat return it."""

    chat: Chat
    window: WindowUse | None


class ChatWindow:
    def __init__(self, registry: ModelRegistry, calibration: TokenCalibration) -> None:
        self._registry = registry
        self._calibration = calibration

    def __call__(self, chat: Chat) -> WindowUse | None:
        """`chat`'s window (`window_use`): what its next prompt holds before the new message,
        in the provider's tokens: our count, scaled where the model's is calibrated by the
        ratio the next turn would fit it with. `None` for a chat whose model is no longer
        configured (it takes no more turns)."""
        try:
            model = self._registry.lookup(chat.model)
        except InvalidInput:
            return None
        window = replace(chat, messages=[m for m in chat.messages if m.in_window])
        ours = window_use(window, model.context_window)
        ratio = self._calibration.ratio_for(window, model)
        reserve = min(ours.reserve, model.max_output)
        return WindowUse(math.ceil(ours.used * ratio.scale), reserve, ours.limit)

    def view(self, chat: Chat) -> ChatView:
        """`chat` with its window."""
        return ChatView(chat, self(chat))
