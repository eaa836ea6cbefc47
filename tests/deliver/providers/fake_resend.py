"""A fake Resend batch API: ``POST /emails/batch`` checked as Resend documents it.

Checked: ``Authorization: Bearer KEY``, a ``User-Agent``, JSON, an array of 1 to 100 emails each
with ``from``, ``to`` (at most 50), ``subject`` and ``html`` or ``text``, string headers, tags
made of letters, digits, ``_`` and ``-``, and an ``Idempotency-Key`` of at most 256 characters.
The key is honoured for the fake's life: the same key and body answer the first answer again
without sending; the same key with another body is a 409. ``x-batch-validation: permissive``
answers invalid emails in ``errors`` by index; otherwise one invalid email fails the batch (422).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from email.utils import parseaddr
from typing import Any

from .fakes import Answer, FakeApi, Request

_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    body = {"statusCode": status, "name": name, "message": message}
    return Answer(
        status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


class FakeResend(FakeApi):
    def __init__(self, key: str = "re_test") -> None:
        super().__init__()
        self.key = key
        #: Addresses Resend refuses as invalid.
        self.invalid: set[str] = set()
        #: Idempotency key -> (hash of the body, the answer given).
        self.seen: dict[str, tuple[str, Answer]] = {}
        self.replayed = 0
        self.quota_used = False

    def fault_answer(self, code: int, request: Request) -> Answer:
        if code != 429:
            return super().fault_answer(code, request)
        self.limited_until = request.at + 1.0
        headers = {
            "ratelimit-limit": "2",
            "ratelimit-remaining": "0",
            "ratelimit-reset": "1",
            "retry-after": "1",
        }
        return _error(429, "rate_limit_exceeded", "Too many requests.", headers)

    def handle(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != "/emails/batch":
            return _error(404, "not_found", f"no route {request.path}")
        if not request.headers.get("user-agent"):
            self.problem("no User-Agent header")
            return _error(403, "missing_user_agent", "A User-Agent header is required.")
        auth = request.headers.get("authorization", "")
        if not auth:
            return _error(401, "missing_api_key", "Missing API key in the authorization header.")
        if auth != f"Bearer {self.key}":
            return _error(403, "invalid_api_key", "API key is invalid.")
        if self.quota_used:
            return _error(429, "daily_quota_exceeded", "You have reached your daily quota.")
        key = request.headers.get("idempotency-key")
        if key is None or not 1 <= len(key) <= 256:
            self.problem(f"Idempotency-Key missing or too long: {key!r}")
            return _error(400, "invalid_idempotency_key", "bad key")
        digest = hashlib.sha256(request.body).hexdigest()
        if key in self.seen:
            first, answer = self.seen[key]
            if first != digest:
                self.problem(f"key {key} sent again with another body")
                return _error(409, "invalid_idempotent_request", "Same key, different payload.")
            self.replayed += 1
            return Answer(answer.status, answer.body, dict(answer.headers))
        try:
            emails = json.loads(request.body)
        except ValueError:
            self.problem("body is not JSON")
            return _error(400, "invalid_body", "not JSON")
        if not isinstance(emails, list) or not 1 <= len(emails) <= 100:
            self.problem("the body must be an array of 1 to 100 emails")
            return _error(422, "validation_error", "The batch must contain 1 to 100 emails.")
        permissive = request.headers.get("x-batch-validation") == "permissive"
        errors = []
        for n, email in enumerate(emails):
            problem = self.check(email)
            if problem:
                self.problem(f"email {n}: {problem}")
            elif parseaddr(email["to"][0])[1].lower() in self.invalid:
                problem = "Invalid `to` field."
            if problem:
                if not permissive:
                    return _error(422, "validation_error", problem)
                errors.append({"index": n, "message": problem})
        refused = {e["index"] for e in errors}
        data = []
        for n, email in enumerate(emails):
            if n not in refused:
                data.append({"id": str(uuid.uuid4())})
                self.deliver_email(email)
        body: dict[str, Any] = {"data": data}
        if permissive:
            body["errors"] = errors
        answer = Answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        self.seen[key] = (digest, answer)
        return Answer(answer.status, answer.body, dict(answer.headers))

    def check(self, email: Any) -> str:
        if not isinstance(email, dict):
            return "not an object"
        for name in ("from", "to", "subject"):
            if not email.get(name):
                return f"The `{name}` field is missing."
        to = email["to"] if isinstance(email["to"], list) else [email["to"]]
        if len(to) > 50:
            return "more than 50 recipients"
        if not (email.get("html") or email.get("text")):
            return "html or text is required"
        if not all(isinstance(v, str) for v in (email.get("headers") or {}).values()):
            return "header values must be strings"
        for tag in email.get("tags") or []:
            if not (_TAG.match(str(tag.get("name"))) and _TAG.match(str(tag.get("value")))):
                return f"invalid tag {tag}"
        return ""

    def deliver_email(self, email: dict[str, Any]) -> None:
        self.deliver(
            parseaddr(email["to"][0])[1],
            email["subject"],
            email.get("html", ""),
            email.get("text", ""),
            dict(email.get("headers") or {}),
        )
