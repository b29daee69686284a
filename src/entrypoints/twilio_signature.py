"""Twilio's webhook authentication: the `X-Twilio-Signature` header, checked with the `twilio`
package's `RequestValidator` (HMAC-SHA1 of the URL Twilio called and the sorted form fields,
keyed with the account's auth token).

The URL is the configured `public_base_url` + the webhook's path (plus the query string, if Twilio
was given one): behind a proxy or a tunnel the service cannot see the URL Twilio called.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

# The twilio package ships no type information.
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

WHATSAPP_WEBHOOK_PATH = "/v1/twilio/whatsapp"


class FormFields(dict[str, list[str]]):
    """A form body, every value of every field, in the shape `RequestValidator` reads
    (`getall`, as in the multidicts of web frameworks)."""

    @classmethod
    def parse(cls, body: bytes) -> FormFields:
        fields = cls()
        text = body.decode("utf-8", errors="replace")
        for name, value in parse_qsl(text, keep_blank_values=True):
            fields.setdefault(name, []).append(value)
        return fields

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str, default: str = "") -> str:
        return self.get(name, [default])[0]


class TwilioSignature:
    def __init__(self, auth_token: str, public_base_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self.webhook_url = public_base_url.rstrip("/") + WHATSAPP_WEBHOOK_PATH

    def accepts(self, fields: FormFields, signature: str | None, query: str = "") -> bool:
        """Whether `signature` is Twilio's for this request. `RequestValidator` compares in
        constant time and accepts the URL with or without its default port, as Twilio signs
        either way."""
        if not signature:
            return False
        url = f"{self.webhook_url}?{query}" if query else self.webhook_url
        return bool(self._validator.validate(url, fields, signature))
