"""A fake Mailjet Send API v3.1: ``POST /v3.1/send`` as dev.mailjet.com documents it."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from .fakes import EMAIL, Answer, FakeApi, Request, reply


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


_MAILJET_TAG = re.compile(r"\{\{\s*var:([A-Za-z0-9_]+)\s*\}\}")


@dataclass
class FakeMailjet(FakeApi):
    """``POST /v3.1/send`` as dev.mailjet.com documents it: Basic auth (API key and secret),
    up to 50 ``Messages`` merged over ``Globals``, answers per message in order."""

    api_key: str = "mj-key"
    api_secret: str = "mj-secret"  # noqa: S105 (a fake server)
    #: CustomCampaign -> addresses already sent in it (DeduplicateCampaign).
    campaigns: dict[str, set[str]] = field(default_factory=dict)
    deduplicated: int = 0

    def fault_answer(self, code: int, request: Request) -> Answer:
        if code == 429:
            return reply(429, {"ErrorMessage": "Too many requests", "StatusCode": 429}, {})
        return reply(code, {"ErrorMessage": "Internal Server Error", "StatusCode": code}, {})

    def handle(self, request: Request) -> Answer:
        if request.headers.get("authorization") != basic_auth(self.api_key, self.api_secret):
            return reply(401, {"ErrorMessage": "API key authentication/authorization failure"}, {})
        if request.method != "POST" or request.path != "/v3.1/send":
            return reply(404, {"ErrorMessage": "Not found"}, {})
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("Messages"), list):
            return reply(400, {"ErrorMessage": "Messages must be a list", "StatusCode": 400}, {})
        if not 1 <= len(body["Messages"]) <= 50:
            return reply(
                400, {"ErrorMessage": "1 to 50 messages per request", "StatusCode": 400}, {}
            )
        glob = body.get("Globals") or {}
        answers = [self._one({**glob, **message}, glob) for message in body["Messages"]]
        ok = all(a["Status"] == "success" for a in answers)
        return reply(200 if ok else 400, {"Messages": answers}, {})

    def _one(self, message: dict[str, Any], glob: dict[str, Any]) -> dict[str, Any]:
        def error(text: str, code: str = "mj-0003") -> dict[str, Any]:
            return {
                "Status": "error",
                "Errors": [{"ErrorCode": code, "StatusCode": 400, "ErrorMessage": text}],
            }

        sender = message.get("From") or {}
        if not EMAIL.match(str(sender.get("Email", ""))):
            return error("From is missing")
        to = message.get("To")
        if not isinstance(to, list) or not to:
            return error("At least one recipient is required")
        address = str(to[0].get("Email", ""))
        if not EMAIL.match(address) or address.lower() in self.reject:
            return error(f'"{address}" is an invalid email address.', "mj-0013")
        if not message.get("HTMLPart") or not message.get("TextPart"):
            return error("HTMLPart and TextPart expected here")
        variables = {**(glob.get("Variables") or {}), **(message.get("Variables") or {})}
        parts = [str(message.get(k, "")) for k in ("Subject", "HTMLPart", "TextPart")]
        if message.get("TemplateLanguage") is not True and any("{{var:" in p for p in parts):
            return error("variables need TemplateLanguage: true")
        subject, html_body, text = (
            _MAILJET_TAG.sub(lambda m: str(variables.get(m.group(1), "")), p) for p in parts
        )
        headers = {**(glob.get("Headers") or {}), **(message.get("Headers") or {})}
        campaign = message.get("CustomCampaign")
        if message.get("DeduplicateCampaign") is True and not campaign:
            self.problem("DeduplicateCampaign without a CustomCampaign deduplicates nothing")
        # DeduplicateCampaign: a contact already sent a message of this campaign gets no
        # second one; the message is still answered as a success.
        with self.lock:
            seen = self.campaigns.setdefault(str(campaign), set())
            duplicate = message.get("DeduplicateCampaign") is True and address.lower() in seen
            seen.add(address.lower())
        if duplicate:
            self.deduplicated += 1
        else:
            self.deliver(address, subject, html_body, text, headers)
        ident = uuid.uuid4().int % 10**16
        return {
            "Status": "success",
            "CustomID": message.get("CustomID", ""),
            "To": [
                {
                    "Email": address,
                    "MessageUUID": str(uuid.uuid4()),
                    "MessageID": ident,
                    "MessageHref": f"https://api.mailjet.com/v3/REST/message/{ident}",
                }
            ],
        }
