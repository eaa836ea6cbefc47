"""A fake Brevo API: ``POST /v3/smtp/email`` and the campaign endpoints, as developers.brevo.com
documents them (``api-key`` header, ``messageVersions``, ``idempotencyKey``, rate-limit headers).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from .fakes import EMAIL, Answer, FakeApi, Request, reply

_BREVO_TAG = re.compile(r"\{\{\s*params\.([A-Za-z0-9_]+)\s*\}\}")


def _brevo_render(text: str, params: dict[str, str]) -> str:
    """Brevo's template language as far as we use it: ``{{ params.x }}``, not autoescaped
    (an unknown param renders as nothing); any other tag left is an error."""
    out = _BREVO_TAG.sub(lambda m: str(params.get(m.group(1), "")), text)
    return out


@dataclass
class FakeBrevo(FakeApi):
    """``POST /v3/smtp/email`` and the campaign endpoints, as developers.brevo.com documents."""

    api_key: str = "brevo-test-key"
    idempotency: set[str] = field(default_factory=set)
    campaigns: dict[int, dict[str, Any]] = field(default_factory=dict)
    campaigns_sent: list[int] = field(default_factory=list)

    def _limits(self) -> dict[str, str]:
        return {
            "x-sib-ratelimit-limit": "1000",
            "x-sib-ratelimit-remaining": "999",
            "x-sib-ratelimit-reset": "1",
        }

    def fault_answer(self, code: int, request: Request) -> Answer:
        if code == 429:
            headers = {**self._limits(), "x-sib-ratelimit-remaining": "0"}
            headers["x-sib-ratelimit-reset"] = str(self.retry_seconds)
            return reply(429, {"code": "too_many_requests", "message": "rate limited"}, headers)
        return reply(code, {"code": "internal_error", "message": "try later"}, self._limits())

    def _bad(self, message: str, code: str = "invalid_parameter") -> Answer:
        return reply(400, {"code": code, "message": message}, self._limits())

    def handle(self, request: Request) -> Answer:
        if request.headers.get("api-key") != self.api_key:
            return reply(401, {"code": "unauthorized", "message": "Key not found"}, self._limits())
        if request.method == "POST" and request.path == "/v3/smtp/email":
            return self._send(request.json)
        if request.method == "POST" and request.path == "/v3/emailCampaigns":
            return self._create_campaign(request.json)
        match = re.fullmatch(r"/v3/emailCampaigns/(\d+)/sendNow", request.path)
        if request.method == "POST" and match:
            number = int(match.group(1))
            if number not in self.campaigns:
                return reply(404, {"code": "document_not_found", "message": "no"}, self._limits())
            self.campaigns_sent.append(number)
            return reply(204, None, self._limits())
        return reply(404, {"code": "not_found", "message": request.path}, self._limits())

    def _send(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return self._bad("body must be JSON")
        sender = body.get("sender") or {}
        if not EMAIL.match(str(sender.get("email", ""))):
            return self._bad("sender is missing")
        if not body.get("subject") or not body.get("htmlContent"):
            return self._bad("subject and htmlContent are required")
        versions = body.get("messageVersions")
        if versions is not None and "to" in body:
            return self._bad("to is not allowed with messageVersions")
        if not isinstance(versions, list) or not versions:
            return self._bad("messageVersions must be a non-empty list")
        if len(versions) > 1000:
            return self._bad("messageVersions: at most 1000 versions")
        total = 0
        for version in versions:
            to = version.get("to")
            if not isinstance(to, list) or not 1 <= len(to) <= 99:
                return self._bad("messageVersions.to: 1 to 99 recipients per version")
            total += len(to)
            for person in to:
                address = str(person.get("email", ""))
                if not EMAIL.match(address) or address.lower() in self.reject:
                    return self._bad(f"email is not valid in to: {address}")
            for key, value in (version.get("headers") or {}).items():
                if not isinstance(value, str):
                    return self._bad(f"header {key} must be a string")
        if total > 2000:
            return self._bad("at most 2000 recipients in all")
        key = (body.get("headers") or {}).get("idempotencyKey")
        if key is not None:
            try:
                uuid.UUID(str(key))
            except ValueError:
                return self._bad("idempotencyKey must be a UUID")
            with self.lock:
                if key in self.idempotency:
                    return self._bad(
                        "Request with same idempotencyKey already processed", "duplicate_parameter"
                    )
                self.idempotency.add(key)
        ids = []
        for version in versions:
            params = version.get("params") or {}
            subject = _brevo_render(version.get("subject") or body["subject"], params)
            html_body = _brevo_render(body["htmlContent"], params)
            text = _brevo_render(body.get("textContent", ""), params)
            headers = {**(body.get("headers") or {}), **(version.get("headers") or {})}
            for person in version["to"]:
                self.deliver(person["email"], subject, html_body, text, headers)
                ids.append(f"<{uuid.uuid4().hex}@smtp-relay.mailin.fr>")
        return reply(201, {"messageIds": ids}, self._limits())

    def _create_campaign(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return self._bad("body must be JSON")
        for key in ("name", "sender", "subject", "htmlContent", "recipients"):
            if not body.get(key):
                return self._bad(f"{key} is missing")
        if not all(isinstance(n, int) for n in body["recipients"].get("listIds", [])):
            return self._bad("recipients.listIds must be integers")
        number = len(self.campaigns) + 1
        self.campaigns[number] = body
        return reply(201, {"id": number}, self._limits())
