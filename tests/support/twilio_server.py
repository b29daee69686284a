"""A local stand-in for Twilio's Messages REST API: real HTTP, recording what it received.

It answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with 201 and a message resource,
or with a scripted error status, and keeps every request: path, basic-auth credentials, form.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request, Response, post
from litestar.params import FromPath

from support.process import free_port
from support.serving import serving
from support.waiting import GENEROUS_SECONDS


@dataclass(frozen=True)
class ReceivedMessage:
    path: str
    username: str
    password: str
    form: dict[str, str]
    status: int


class FakeTwilioMessages:
    def __init__(self) -> None:
        self.received: list[ReceivedMessage] = []
        self._statuses: deque[int] = deque()
        self._arrived = asyncio.Condition()
        self.port = free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> list[ReceivedMessage]:
        return [r for r in self.received if r.status == 201]

    def fail_next(self, *statuses: int) -> None:
        """Answer the coming requests with these error statuses, then accept again."""
        self._statuses.extend(statuses)

    async def wait_for(
        self, accepted: int, within: float = GENEROUS_SECONDS
    ) -> list[ReceivedMessage]:
        """The accepted messages, once there are `accepted` of them."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.accepted) >= accepted)
        return self.accepted

    def app(self) -> Litestar:
        @post("/2010-04-01/Accounts/{account_sid:str}/Messages.json", status_code=201)
        async def create_message(
            request: Request[Any, Any, Any], account_sid: FromPath[str]
        ) -> Response[Any]:
            form = {name: str(value) for name, value in (await request.form()).items()}
            username, password = _basic_auth(request.headers.get("authorization", ""))
            status = self._statuses.popleft() if self._statuses else 201
            self.received.append(
                ReceivedMessage(request.url.path, username, password, form, status)
            )
            async with self._arrived:
                self._arrived.notify_all()
            if status != 201:
                # As Twilio's own errors may, the message names what was sent: an adapter must
                # not pass it on.
                message = f"scripted failure for {form.get('Body')!r}"
                return Response(
                    {"code": 20500, "message": message, "status": status}, status_code=status
                )
            return Response(
                {
                    "sid": "SM" + uuid.uuid4().hex,
                    "account_sid": account_sid,
                    "from": form.get("From"),
                    "to": form.get("To"),
                    "body": form.get("Body"),
                    "status": "queued",
                },
                status_code=201,
            )

        return Litestar([create_message], logging_config=None)


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    username, _, password = base64.b64decode(encoded).decode().partition(":")
    return username, password


@asynccontextmanager
async def running_twilio_messages() -> AsyncIterator[FakeTwilioMessages]:
    fake = FakeTwilioMessages()
    async with serving(fake.app(), fake.port, log_level="critical"):
        yield fake
