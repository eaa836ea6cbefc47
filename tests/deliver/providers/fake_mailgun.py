"""A fake Mailgun Messages API: ``POST /v3/{domain}/messages`` checked as Mailgun documents it.

Checked: HTTP Basic ``api:KEY``, a ``multipart/form-data`` body, a known domain, ``from``,
``subject``, ``text`` and ``html``, 1 to 1000 ``to``, ``recipient-variables`` as JSON with an
object for every ``to`` address (without it every recipient would see the others), and all
``o:``, ``h:``, ``v:`` options together under 16 kB. Answers 200 ``Queued. Thank you.`` with an
id; 429 and 5xx on request; 401 ``Forbidden`` for a wrong key; 404 for an unknown domain.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from email.utils import parseaddr

from .fakes import Answer, FakeApi, Request


def parse_form(content_type: str, body: bytes) -> list[tuple[str, str]] | None:
    """The fields of a multipart/form-data body, in order; None when it is not one."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return None
    fields = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            return None
        fields.append((name, payload.decode("utf-8")))
    return fields


def _json(status: int, message: str) -> Answer:
    return Answer(
        status, json.dumps({"message": message}).encode(), {"Content-Type": "application/json"}
    )


class FakeMailgun(FakeApi):
    def __init__(self, key: str = "key-test", domain: str = "example.org") -> None:
        super().__init__()
        self.key = key
        self.domain = domain

    def fault_answer(self, code: int, request: Request) -> Answer:
        if code != 429:
            return super().fault_answer(code, request)
        self.limited_until = request.at + 1.0
        return Answer(429, b'{"message":"Too many requests"}', {"Retry-After": "1"})

    def handle(self, request: Request) -> Answer:
        match = re.fullmatch(r"/v3/([^/]+)/messages", request.path)
        if request.method != "POST" or match is None:
            return Answer(200, b"Mailgun Magnificent API")
        expected = base64.b64encode(f"api:{self.key}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Answer(401, b"Forbidden")
        if match.group(1) != self.domain:
            return _json(404, "Domain not found: " + match.group(1))
        fields = parse_form(request.headers.get("content-type", ""), request.body)
        if fields is None:
            self.problem("body is not multipart/form-data")
            return _json(400, "invalid form")
        problems = self.check(fields)
        if problems:
            self.problems.extend(problems)
            return _json(400, problems[0])
        self.deliver_form(fields)
        queued = {"id": f"<{uuid.uuid4().hex}@{self.domain}>", "message": "Queued. Thank you."}
        return Answer(200, json.dumps(queued).encode(), {"Content-Type": "application/json"})

    def check(self, fields: list[tuple[str, str]]) -> list[str]:
        problems = []
        single = dict(fields)
        for name in ("from", "subject", "text", "html"):
            if not single.get(name):
                problems.append(f"'{name}' parameter is missing")
        to = [value for key, value in fields if key == "to"]
        if not 1 <= len(to) <= 1000:
            problems.append(f"'to': between 1 and 1000 recipients (got {len(to)})")
        raw = single.get("recipient-variables")
        if raw is None:
            problems.append("recipient-variables missing: every recipient would see the others")
            return problems
        try:
            variables = json.loads(raw)
        except ValueError:
            return ["recipient-variables is not valid JSON"]
        for address in to:
            email = parseaddr(address)[1]
            if not email or email not in variables:
                problems.append(f"no recipient-variables for {address!r}")
        options = sum(
            len(k.encode()) + len(v.encode())
            for k, v in fields
            if k[:2] in ("o:", "h:", "v:", "t:")
        )
        if options > 16 * 1024:
            problems.append(f"o:, h:, v: options take {options} bytes, over 16 kB")
        return problems

    def deliver_form(self, fields: list[tuple[str, str]]) -> None:
        single = dict(fields)
        variables = json.loads(single["recipient-variables"])
        headers = {key[2:]: value for key, value in fields if key.startswith("h:")}
        for address in (value for key, value in fields if key == "to"):
            email = parseaddr(address)[1]
            own = variables[email]

            def fill(text: str, own: dict[str, str] = own) -> str:
                return re.sub(r"%recipient\.([^%]+)%", lambda m: str(own.get(m.group(1), "")), text)

            self.deliver(
                email,
                fill(single["subject"]),
                fill(single["html"]),
                fill(single["text"]),
                {key: fill(value) for key, value in headers.items()},
            )
