"""Fake provider APIs on a loopback port: a threaded stdlib HTTP server and one app per provider.

Each app checks requests the way the provider documents them (auth, JSON shape, limits),
answers like the provider, records what it got, and misbehaves on demand: ``faults`` is a queue
of what to do to the next requests (``"429"``, ``"500"``, ``"lose"``: process the request, then
drop the connection before the answer).
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class FakeApi:
    """What every fake provider shares: the record of requests and the fault queue."""

    requests: list[Request] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    delivered: Counter[str] = field(default_factory=Counter)
    #: Per recipient (lower-case address): the last (subject, html, text, headers) delivered.
    messages: dict[str, tuple[str, str, str, dict[str, str]]] = field(default_factory=dict)
    #: Addresses the provider refuses.
    reject: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    retry_seconds: int = 2

    def handle(self, request: Request) -> Answer:
        raise NotImplementedError

    def fault_answer(self, code: int) -> Answer:
        raise NotImplementedError

    def deliver(self, email: str, subject: str, html_body: str, text: str, headers: Any) -> None:
        with self.lock:
            self.delivered[email.lower()] += 1
            self.messages[email.lower()] = (subject, html_body, text, dict(headers or {}))

    def next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    api: FakeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        request = Request(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            time.monotonic(),
        )
        with self.api.lock:
            self.api.requests.append(request)
        fault = self.api.next_fault()
        if fault in ("429", "500", "503"):
            code, headers, payload = self.api.fault_answer(int(fault))
        else:
            code, headers, payload = self.api.handle(request)
        if fault == "lose":
            self.close_connection = True  # processed, but the answer never leaves
            return
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = _serve
    do_GET = _serve
    do_PUT = _serve


@contextmanager
def serve(api: FakeApi) -> Iterator[str]:
    """Run ``api`` on 127.0.0.1; yields its origin (http://127.0.0.1:PORT)."""
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- Brevo ------------------------------------------------------------------------------

_BREVO_TAG = re.compile(r"\{\{\s*params\.([A-Za-z0-9_]+)\s*\}\}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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

    def fault_answer(self, code: int) -> Answer:
        if code == 429:
            headers = {**self._limits(), "x-sib-ratelimit-remaining": "0"}
            headers["x-sib-ratelimit-reset"] = str(self.retry_seconds)
            return 429, headers, {"code": "too_many_requests", "message": "rate limited"}
        return code, self._limits(), {"code": "internal_error", "message": "try later"}

    def _bad(self, message: str, code: str = "invalid_parameter") -> Answer:
        return 400, self._limits(), {"code": code, "message": message}

    def handle(self, request: Request) -> Answer:
        if request.headers.get("api-key") != self.api_key:
            return 401, self._limits(), {"code": "unauthorized", "message": "Key not found"}
        if request.method == "POST" and request.path == "/v3/smtp/email":
            return self._send(request.body)
        if request.method == "POST" and request.path == "/v3/emailCampaigns":
            return self._create_campaign(request.body)
        match = re.fullmatch(r"/v3/emailCampaigns/(\d+)/sendNow", request.path)
        if request.method == "POST" and match:
            number = int(match.group(1))
            if number not in self.campaigns:
                return 404, self._limits(), {"code": "document_not_found", "message": "no"}
            self.campaigns_sent.append(number)
            return 204, self._limits(), None
        return 404, self._limits(), {"code": "not_found", "message": request.path}

    def _send(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return self._bad("body must be JSON")
        sender = body.get("sender") or {}
        if not _EMAIL.match(str(sender.get("email", ""))):
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
                if not _EMAIL.match(address) or address.lower() in self.reject:
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
        return 201, self._limits(), {"messageIds": ids}

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
        return 201, self._limits(), {"id": number}


def html_text(value: str) -> str:
    return html.escape(value, quote=True)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- Mailjet ----------------------------------------------------------------------------

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

    def fault_answer(self, code: int) -> Answer:
        if code == 429:
            return 429, {}, {"ErrorMessage": "Too many requests", "StatusCode": 429}
        return code, {}, {"ErrorMessage": "Internal Server Error", "StatusCode": code}

    def handle(self, request: Request) -> Answer:
        if request.headers.get("authorization") != basic_auth(self.api_key, self.api_secret):
            return 401, {}, {"ErrorMessage": "API key authentication/authorization failure"}
        if request.method != "POST" or request.path != "/v3.1/send":
            return 404, {}, {"ErrorMessage": "Not found"}
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("Messages"), list):
            return 400, {}, {"ErrorMessage": "Messages must be a list", "StatusCode": 400}
        if not 1 <= len(body["Messages"]) <= 50:
            return 400, {}, {"ErrorMessage": "1 to 50 messages per request", "StatusCode": 400}
        glob = body.get("Globals") or {}
        answers = [self._one({**glob, **message}, glob) for message in body["Messages"]]
        ok = all(a["Status"] == "success" for a in answers)
        return (200 if ok else 400), {}, {"Messages": answers}

    def _one(self, message: dict[str, Any], glob: dict[str, Any]) -> dict[str, Any]:
        def error(text: str, code: str = "mj-0003") -> dict[str, Any]:
            return {
                "Status": "error",
                "Errors": [{"ErrorCode": code, "StatusCode": 400, "ErrorMessage": text}],
            }

        sender = message.get("From") or {}
        if not _EMAIL.match(str(sender.get("Email", ""))):
            return error("From is missing")
        to = message.get("To")
        if not isinstance(to, list) or not to:
            return error("At least one recipient is required")
        address = str(to[0].get("Email", ""))
        if not _EMAIL.match(address) or address.lower() in self.reject:
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


# -- Postmark ---------------------------------------------------------------------------


@dataclass
class FakePostmark(FakeApi):
    """``POST /email/batch`` as postmarkapp.com documents it: ``X-Postmark-Server-Token``,
    a JSON array of up to 500 messages, 200 with one result per message in order."""

    token: str = "pm-token"  # noqa: S105 (a fake server)
    #: Streams that manage unsubscribes themselves and refuse a custom List-Unsubscribe.
    managed_streams: set[str] = field(default_factory=set)
    #: Per-message ErrorCode to answer for these addresses (e.g. 406 inactive recipient).
    errors: dict[str, int] = field(default_factory=dict)

    def fault_answer(self, code: int) -> Answer:
        if code == 429:
            return (
                429,
                {"Retry-After": str(self.retry_seconds)},
                {
                    "ErrorCode": 429,
                    "Message": "Rate limit exceeded",
                },
            )
        return code, {}, {"ErrorCode": 0, "Message": "Internal server error"}

    #: What the message search knows: (MessageID, address, Tag).
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def handle(self, request: Request) -> Answer:
        if request.headers.get("x-postmark-server-token") != self.token:
            return 401, {}, {"ErrorCode": 10, "Message": "Bad or missing API token"}
        if request.method == "GET" and request.path.startswith("/messages/outbound?"):
            return self._search(request.path)
        if request.method != "POST" or request.path != "/email/batch":
            return 404, {}, {"ErrorCode": 0, "Message": "Not found"}
        body = request.body
        if not isinstance(body, list):
            return 422, {}, {"ErrorCode": 402, "Message": "Invalid JSON"}
        if len(body) > 500:
            return 422, {}, {"ErrorCode": 410, "Message": "Too many batch messages"}
        return 200, {}, [self._one(message) for message in body]

    def _one(self, message: Any) -> dict[str, Any]:
        def error(code: int, text: str) -> dict[str, Any]:
            return {"ErrorCode": code, "Message": text}

        if not isinstance(message, dict) or not message.get("From"):
            return error(300, "Invalid email request: From is required")
        to = str(message.get("To", ""))
        address = to.rpartition("<")[2].rstrip(">") if "<" in to else to
        if not _EMAIL.match(address):
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
            return 422, {}, {"ErrorCode": 0, "Message": "count and offset are required"}
        if not 0 < count <= 500:
            return 422, {}, {"ErrorCode": 0, "Message": "count: at most 500"}
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
        return 200, {}, {"TotalCount": len(found), "Messages": messages}
