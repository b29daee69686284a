"""Each model to its own provider: the gateway the turn talks to, whichever provider answers."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping

from chatservice.application.ports import ChatGateway, CompletionEnd, CompletionRequest, TextDelta
from chatservice.domain.errors import ProviderUnavailable


class RoutingChatGateway:
    """A `ChatGateway` that hands each request to the gateway of the provider its model names
    (`ModelSpec.provider`), so chats on different providers run side by side in one process.

    The registry lets no chat start on a model whose provider is not configured; a request for
    one all the same (a model the configuration no longer serves) is `ProviderUnavailable`."""

    def __init__(self, gateways: Mapping[str, ChatGateway]) -> None:
        """`gateways`: the gateway of each configured provider, by the provider's name."""
        self._gateways = gateways

    def stream(self, request: CompletionRequest) -> AsyncGenerator[TextDelta | CompletionEnd, None]:
        provider = request.model.provider
        gateway = self._gateways.get(provider)
        if gateway is None:
            raise ProviderUnavailable(
                f"model {request.model.name!r} is served by provider {provider!r}, which is not "
                "configured"
            )
        return gateway.stream(request)
