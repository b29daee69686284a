"""The WhatsApp webhook on a real database, driven in-process with requests signed as Twilio signs
them, and a local fake of Twilio's Messages API to receive the replies sent later."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from dependency_injector import providers
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.application.whatsapp_replies import DeliverReply
from chatservice.domain.chat import Chat
from chatservice.entrypoints.container import Container
from chatservice.entrypoints.http.app import create_app
from support.containers import closed_after, provided, service_container
from support.databases import StoredRows, rows_of
from support.http import TOKEN
from support.twilio_server import FakeTwilioMessages, running_twilio_messages
from support.waiting import GENEROUS_SECONDS

ACCOUNT_SID = "AC" + "1234abcd" * 4
AUTH_TOKEN = "twilio-auth-token-for-tests"
PUBLIC_BASE_URL = "https://chat.example.com"
WEBHOOK_URL = PUBLIC_BASE_URL + "/v1/twilio/whatsapp"
OUR_NUMBER = "whatsapp:+14155238886"
#: Pauses between send attempts in these tests (the service's own are seconds long).
FAST_RETRIES = (0.05, 0.1, 0.2)


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


def unique_sender(request: pytest.FixtureRequest, suffix: int = 0) -> str:
    """A WhatsApp number unique to this test (tests share their databases)."""
    number = (zlib.crc32(request.node.nodeid.encode()) * 10 + suffix) % 10**11
    return f"whatsapp:+55{number:011d}"


def inbound(sender: str, body: str, sid: str | None = None, media: int = 0) -> dict[str, str]:
    """The form fields Twilio posts for an incoming WhatsApp message."""
    fields = {
        "SmsMessageSid": sid or new_sid(),
        "NumMedia": str(media),
        "ProfileName": "Ana",
        "MessageType": "image" if media and not body else "text",
        "SmsSid": "",
        "WaId": sender.removeprefix("whatsapp:+"),
        "SmsStatus": "received",
        "Body": body,
        "To": OUR_NUMBER,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": "",
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    fields["SmsSid"] = fields["MessageSid"] = fields["SmsMessageSid"]
    for index in range(media):
        fields[f"MediaContentType{index}"] = "image/jpeg"
        fields[f"MediaUrl{index}"] = f"https://api.twilio.com/media/{index}"
    return fields


def signature(fields: dict[str, str], url: str = WEBHOOK_URL, token: str = AUTH_TOKEN) -> str:
    """`X-Twilio-Signature` as Twilio computes it."""
    return str(RequestValidator(token).compute_signature(url, fields))


def replies(response: httpx.Response) -> list[str]:
    """The texts of the `<Message>`s of a TwiML response."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    document = ElementTree.fromstring(response.text)
    assert document.tag == "Response"
    return [message.text or "" for message in document.findall("Message")]


@dataclass
class WhatsApp:
    client: httpx.AsyncClient
    container: Container
    twilio: FakeTwilioMessages

    @property
    def gateway(self) -> FakeChatGateway:
        return provided(self.container.gateway, FakeChatGateway)

    async def post(
        self, fields: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post("/v1/twilio/whatsapp", data=fields, headers=headers or {})

    async def send(
        self, sender: str, body: str, sid: str | None = None, media: int = 0
    ) -> httpx.Response:
        """Post a signed message; the response."""
        fields = inbound(sender, body, sid, media)
        return await self.post(fields, {"X-Twilio-Signature": signature(fields)})

    async def chats(self, sender: str) -> list[Chat]:
        """The sender's chats, oldest first, each with its whole history."""
        listed = await self.container.repository().list_chats(sender, 100, None)
        return [
            await self.container.repository().get_chat(sender, chat.id)
            for chat in sorted(listed, key=lambda c: (c.created_at, c.id))
        ]

    async def snapshot(self, *senders: str) -> StoredRows:
        """These senders' stored rows, to show that a refused request changed nothing."""
        return await rows_of(self.container.engine(), senders)


WhatsAppFactory = Callable[..., AbstractAsyncContextManager[WhatsApp]]


def whatsapp_factory(database_url: str) -> WhatsAppFactory:
    @asynccontextmanager
    async def open_whatsapp(**settings: Any) -> AsyncIterator[WhatsApp]:
        async with running_twilio_messages() as twilio:
            values: dict[str, Any] = {
                "database_url": database_url,
                "auth_tokens": (TOKEN,),
                "public_base_url": PUBLIC_BASE_URL,
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "twilio_api_base_url": twilio.base_url,
                **settings,
            }
            container = service_container(**values)
            container.deliver_reply.override(
                providers.Singleton(DeliverReply, container.messenger, retry_delays=FAST_RETRIES)
            )
            async with closed_after(container):
                transport = httpx.ASGITransport(app=create_app(container))
                try:
                    async with httpx.AsyncClient(
                        transport=transport, base_url="http://test"
                    ) as client:
                        yield WhatsApp(client, container, twilio)
                finally:
                    await container.background_work().drain(GENEROUS_SECONDS)

    return open_whatsapp
