"""`POST /v1/twilio/whatsapp`: Twilio's webhook for incoming WhatsApp messages (docs/whatsapp.md).

Authenticated by its Twilio signature alone, checked before anything else runs. The answer comes
back as TwiML when it is ready within `twilio_reply_timeout`; otherwise the response is an empty
TwiML acknowledgement and the answer follows through Twilio's Messages API
(`application/whatsapp_replies.py`). Without Twilio settings the route answers 404
`whatsapp_not_configured`: it is not there (and a 5xx would have Twilio retry in vain).
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]

from chatservice.application.whatsapp import InboundMessage
from chatservice.application.whatsapp_replies import ReplyToWhatsApp
from chatservice.entrypoints.http.errors import (
    InvalidTwilioSignature,
    WhatsAppNotConfigured,
    error_responses,
)
from chatservice.entrypoints.twilio_signature import (
    WHATSAPP_WEBHOOK_PATH,
    FormFields,
    TwilioSignature,
)

TWIML_MEDIA_TYPE = "text/xml"
_DESCRIPTION = (
    "Twilio's webhook for incoming WhatsApp messages (form-encoded: MessageSid, From, To, Body, "
    "NumMedia, …). Authenticated by `X-Twilio-Signature` alone, no token. Answers TwiML: the "
    "reply as one or more `<Message>`s, or an empty `<Response/>` when the reply follows through "
    "Twilio's Messages API. 404 `whatsapp_not_configured` when Twilio is not configured."
)
_ROUTE: dict[str, Any] = {  # shared by both handlers below: `post`'s keyword arguments
    "status_code": 200,
    "media_type": TWIML_MEDIA_TYPE,
    "tags": ["whatsapp"],
    "summary": "Twilio webhook: an incoming WhatsApp message",
    "operation_id": "TwilioWhatsAppWebhook",
    "description": _DESCRIPTION,
    "responses": error_responses(400, 403, 404, 413, 503),
}
# Characters XML 1.0 cannot carry at all, escaped or not; a model may still produce them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def twiml(parts: list[str]) -> str:
    """A TwiML document sending each part as one `<Message>` (none: an acknowledgement)."""
    response = MessagingResponse()
    for part in parts:
        response.message(_NOT_XML.sub("", part))
    return str(response)


def inbound_message(fields: FormFields) -> InboundMessage:
    # Media is not read: a message without text gets the "text only" answer from its empty body.
    return InboundMessage(
        message_sid=fields.first("MessageSid"),
        sender=fields.first("From"),
        recipient=fields.first("To"),
        body=fields.first("Body"),
    )


@post(WHATSAPP_WEBHOOK_PATH, **_ROUTE)
async def whatsapp_webhook(
    request: Request[Any, Any, Any],
    twilio_signature: NamedDependency[TwilioSignature],
    reply_to_whatsapp: NamedDependency[ReplyToWhatsApp],
) -> Response[str]:
    fields = FormFields.parse(await request.body())
    query = request.scope.get("query_string", b"").decode("latin-1")
    if not twilio_signature.accepts(fields, request.headers.get("x-twilio-signature"), query):
        raise InvalidTwilioSignature()
    parts = await reply_to_whatsapp(inbound_message(fields))
    return Response(twiml(parts), media_type=TWIML_MEDIA_TYPE)


@post(WHATSAPP_WEBHOOK_PATH, **_ROUTE)
async def whatsapp_webhook_off() -> Response[str]:
    raise WhatsAppNotConfigured()


def whatsapp_route(configured: bool) -> HTTPRouteHandler:
    """The webhook, or, without Twilio settings, a stand-in that says so (404)."""
    return whatsapp_webhook if configured else whatsapp_webhook_off
