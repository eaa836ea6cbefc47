"""A fake Postmark API: ``POST /email/batch`` and the message search, as postmarkapp.com
documents them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .fakes import EMAIL, Answer, FakeApi, Request, reply


@dataclass
class FakePostmark(FakeApi):
    """``POST /email/batch`` as postmarkapp.com documents it: ``X-Postmark-Server-Token``,
    a JSON array of up to 500 messages, 200 with one result per message in order."""

    token: str = "pm-token"  # noqa: S105 (a fake server)
    #: Streams that manage unsubscribes themselves and refuse a custom List-Unsubscribe.
    managed_streams: set[str] = field(default_factory=set)
    #: Per-message ErrorCode to answer for these addresses (e.g. 406 inactive recipient).
    errors: dict[str, int] = field(default_factory=dict)

    def fault_answer(self, code: int, request: Request) -> Answer:
        if code == 429:
            return reply(
                429,
                {
                    "ErrorCode": 429,
                    "Message": "Rate limit exceeded",
                },
                {"Retry-After": str(self.retry_seconds)},
            )
        return reply(code, {"ErrorCode": 0, "Message": "Internal server error"}, {})

    #: What the message search knows: (MessageID, address, Tag).
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def handle(self, request: Request) -> Answer:
        if request.headers.get("x-postmark-server-token") != self.token:
            return reply(401, {"ErrorCode": 10, "Message": "Bad or missing API token"}, {})
        if request.method == "GET" and request.path.startswith("/messages/outbound?"):
            return self._search(request.path)
        if request.method != "POST" or request.path != "/email/batch":
            return reply(404, {"ErrorCode": 0, "Message": "Not found"}, {})
        body = request.json
        if not isinstance(body, list):
            return reply(422, {"ErrorCode": 402, "Message": "Invalid JSON"}, {})
        if len(body) > 500:
            return reply(422, {"ErrorCode": 410, "Message": "Too many batch messages"}, {})
        return reply(200, [self._one(message) for message in body], {})

    def _one(self, message: Any) -> dict[str, Any]:
        def error(code: int, text: str) -> dict[str, Any]:
            return {"ErrorCode": code, "Message": text}

        if not isinstance(message, dict) or not message.get("From"):
            return error(300, "Invalid email request: From is required")
        to = str(message.get("To", ""))
        address = to.rpartition("<")[2].rstrip(">") if "<" in to else to
        if not EMAIL.match(address):
            return error(300, f"Invalid 'To' address: '{to}'.")
        if address.lower() in self.errors:
            return error(
                self.errors[address.lower()],
                "You tried to send to recipient(s) that have been marked as inactive.",
            )
        if not message.get("HtmlBody") and not message.get("TextBody"):
            return error(300, "Provide either email TextBody or HtmlBody or both.")
        headers = message.get("Headers") or []
        if not all(isinstance(h, dict) and {"Name", "Value"} <= set(h) for h in headers):
            return error(300, "Headers must be a list of {Name, Value}")
        names = {h["Name"].lower() for h in headers}
        if message.get("MessageStream") in self.managed_streams and "list-unsubscribe" in names:
            return error(300, "List-Unsubscribe is managed by this broadcast stream")
        self.deliver(
            address,
            str(message.get("Subject", "")),
            str(message.get("HtmlBody", "")),
            str(message.get("TextBody", "")),
            {h["Name"]: h["Value"] for h in headers},
        )
        ident = str(uuid.uuid4())
        with self.lock:
            self.sent.append((ident, address, str(message.get("Tag", ""))))
        return {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": ident,
            "SubmittedAt": "2026-12-03T09:00:00.0000000-05:00",
            "To": to,
        }

    def _search(self, path: str) -> Answer:
        """``GET /messages/outbound``: count (at most 500) and offset are required."""
        query = parse_qs(urlsplit(path).query)
        try:
            count, offset = int(query["count"][0]), int(query["offset"][0])
        except (KeyError, ValueError):
            return reply(422, {"ErrorCode": 0, "Message": "count and offset are required"}, {})
        if not 0 < count <= 500:
            return reply(422, {"ErrorCode": 0, "Message": "count: at most 500"}, {})
        tag = query.get("tag", [None])[0]
        with self.lock:
            found = [m for m in self.sent if tag is None or m[2] == tag]
        page = found[offset : offset + count]
        messages = [
            {
                "MessageID": ident,
                "Tag": found_tag,
                "To": [{"Email": address, "Name": None}],
                "Recipients": [address],
                "Status": "Sent",
            }
            for ident, address, found_tag in page
        ]
        return reply(200, {"TotalCount": len(found), "Messages": messages}, {})
