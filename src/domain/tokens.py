"""The chat-format token cost (OpenAI cookbook), shared by every counter and the window rule.

Exact for OpenAI's older chat models, a close estimate for newer ones; `window_margin` absorbs
the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: Tokens every message costs besides its role and content (`<|start|>role\ncontent<|end|>`).
MESSAGE_OVERHEAD = 3
#: Extra tokens a message with a `name` costs besides the name itself.
NAME_OVERHEAD = 1
#: Tokens that prime the reply (`<|start|>assistant<|message|>`), paid once per prompt.
REPLY_PRIMING = 3


def message_cost(
    count_text: Callable[[str], int], role: str, content: str, name: str | None = None
) -> int:
    """Cost of one message: `3 + tokens(role) + tokens(content)` (+ `1 + tokens(name)`)."""
    cost = MESSAGE_OVERHEAD + count_text(role) + count_text(content)
    if name is not None:
        cost += NAME_OVERHEAD + count_text(name)
    return cost


def prompt_cost(message_costs: Iterable[int]) -> int:
    """Cost of a whole prompt: the reply priming plus every message's cost."""
    return REPLY_PRIMING + sum(message_costs)
