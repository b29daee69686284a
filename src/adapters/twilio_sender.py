"""`TwilioOutboundMessenger`: the `OutboundMessenger` port over Twilio's Messages REST API.

`POST {api_base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with the form fields `From`,
`To` and `Body`, authenticated with HTTP basic auth (account SID, auth token); Twilio answers
`201 Created`. The base URL is configurable so that tests (and regional edges) can stand in.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import httpx

from chatservice.application.ports import MessageNotSent


@dataclass(frozen=True)
class TwilioAccount:
    account_sid: str
    auth_token: str
    api_base_url: str = "https://api.twilio.com"

    def __repr__(self) -> str:  # never print the auth token
        return f"TwilioAccount({self.account_sid!r}, api_base_url={self.api_base_url!r})"


class TwilioOutboundMessenger:
    def __init__(self, account: TwilioAccount, timeout_seconds: float = 10.0) -> None:
        self._account = account
        self._url = (
            f"{account.api_base_url.rstrip('/')}/2010-04-01/Accounts/"
            f"{quote(account.account_sid, safe='')}/Messages.json"
        )
        self._timeout = httpx.Timeout(timeout_seconds)
        self._client: httpx.AsyncClient | None = None

    async def send(self, sender: str, recipient: str, body: str) -> None:
        if self._client is None:
            # Made on first use, in the event loop that sends: most messages never need it.
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._client.post(
                self._url,
                data={"From": sender, "To": recipient, "Body": body},
                auth=(self._account.account_sid, self._account.auth_token),
            )
        except httpx.HTTPError as error:
            raise MessageNotSent(f"Twilio unreachable ({type(error).__name__})", True) from error
        if response.status_code in (200, 201):
            return
        raise MessageNotSent(
            f"Twilio answered {response.status_code}{_error_code(response)}",
            retryable=response.status_code == 429 or response.status_code >= 500,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _error_code(response: httpx.Response) -> str:
    """Twilio's own error code (e.g. 21211: invalid To), which says why without any content."""
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return ""
    return f" (error {code})" if isinstance(code, int) else ""
