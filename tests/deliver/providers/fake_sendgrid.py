"""A fake SendGrid v3 Mail Send API: ``POST /v3/mail/send`` checked as SendGrid documents it.

Checked: ``Authorization: Bearer KEY``, JSON, 1 to 1000 personalizations and recipients, each
address once, ``content`` text/plain before text/html, string substitutions under 10,000 bytes
per personalization, no forbidden header per personalization, under 30 MB. Answers 202 with an
``X-Message-Id``; 429 with ``X-RateLimit-*`` (the reset as an epoch time); 400 for a bad request.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .fakes import Answer, FakeApi, Request

FORBIDDEN = {
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
    "content-type",
    "content-transfer-encoding",
    "dkim-signature",
    "received",
    "x-sg-id",
    "x-sg-eid",
}


def _error(status: int, message: str, field: str | None = None) -> Answer:
    body = {"errors": [{"message": message, "field": field, "help": None}]}
    return Answer(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


class FakeSendGrid(FakeApi):
    def __init__(self, key: str = "SG.test-key") -> None:
        super().__init__()
        self.key = key
        #: Addresses SendGrid refuses as invalid (400 naming the personalization).
        self.invalid: set[str] = set()
        #: Seconds until the rate limit resets, announced in a 429.
        self.reset_in = 2

    def fault_answer(self, code: int, request: Request) -> Answer:
        if code != 429:
            return super().fault_answer(code, request)
        reset = int(time.time()) + self.reset_in
        self.limited_until = float(reset)
        return Answer(
            429,
            b'{"errors":[{"field":null,"message":"too many requests"}]}',
            {
                "X-RateLimit-Limit": "600",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
        )

    def handle(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != "/v3/mail/send":
            return _error(404, f"no route {request.method} {request.path}")
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return _error(401, "The provided authorization grant is invalid, expired, or revoked")
        if not request.headers.get("content-type", "").startswith("application/json"):
            self.problem("Content-Type is not application/json")
            return _error(415, "Content-Type should be application/json.")
        if len(request.body) >= 30 * 1024 * 1024:
            self.problem("request over 30 MB")
            return _error(413, "request too large")
        try:
            body = json.loads(request.body)
        except ValueError:
            self.problem("body is not JSON")
            return _error(400, "Bad Request")
        problems = self.check(body)
        if problems:
            self.problems.extend(problems)
            return _error(400, problems[0])
        for n, entry in enumerate(body["personalizations"]):
            if entry["to"][0]["email"].lower() in self.invalid:
                return _error(
                    400, "Does not contain a valid address.", f"personalizations.{n}.to.0.email"
                )
        for entry in body["personalizations"]:
            self.deliver_personalization(body, entry)
        return Answer(202, b"", {"X-Message-Id": uuid.uuid4().hex[:22]})

    def check(self, body: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        personalizations = body.get("personalizations")
        if not isinstance(personalizations, list) or not 1 <= len(personalizations) <= 1000:
            return ["personalizations: between 1 and 1000 required"]
        seen: set[str] = set()
        recipients = 0
        for n, entry in enumerate(personalizations):
            to = entry.get("to")
            if not isinstance(to, list) or not to or not all("email" in t for t in to):
                problems.append(f"personalizations.{n}.to: required, each with an email")
                continue
            for t in to:
                recipients += 1
                if t["email"].lower() in seen:
                    problems.append(f"personalizations.{n}: {t['email']} included more than once")
                seen.add(t["email"].lower())
            subs = entry.get("substitutions", {})
            if not all(isinstance(v, str) for v in subs.values()):
                problems.append(f"personalizations.{n}.substitutions: values must be strings")
            size = sum(len(k.encode()) + len(v.encode()) for k, v in subs.items())
            if size > 10_000:
                problems.append(f"personalizations.{n}.substitutions: {size} bytes > 10000")
            for name, value in entry.get("headers", {}).items():
                if name.lower() in FORBIDDEN:
                    problems.append(f"personalizations.{n}.headers: {name} is not allowed")
                if not isinstance(value, str):
                    problems.append(f"personalizations.{n}.headers.{name}: must be a string")
        if recipients > 1000:
            problems.append("more than 1000 recipients")
        if not isinstance(body.get("from"), dict) or "email" not in body["from"]:
            problems.append("from.email is required")
        if not body.get("subject"):
            problems.append("subject is required")
        types = [part.get("type") for part in body.get("content", [])]
        if types[:2] != ["text/plain", "text/html"]:
            problems.append(f"content: text/plain then text/html expected (got {types})")
        return problems

    def deliver_personalization(self, body: dict[str, Any], entry: dict[str, Any]) -> None:
        subs: dict[str, str] = entry.get("substitutions", {})

        def fill(text: str) -> str:
            for key, value in subs.items():
                text = text.replace(key, value)
            return text

        parts = {part["type"]: part["value"] for part in body["content"]}
        headers = {**body.get("headers", {}), **entry.get("headers", {})}
        for t in entry["to"]:
            self.deliver(
                t["email"],
                fill(entry.get("subject", body["subject"])),
                fill(parts["text/html"]),
                fill(parts["text/plain"]),
                headers,
            )
