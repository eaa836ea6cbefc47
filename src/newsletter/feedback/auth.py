"""Checks shared by the providers' webhooks: secrets from the environment, timestamps that are
not stale, HTTP Basic credentials or a URL token. Every comparison is in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from datetime import datetime, timedelta

from newsletter.config import CredentialsWebhook
from newsletter.feedback.events import Unauthorized, WebhookRequest, epoch

#: A signature older (or further ahead) than this is refused, so a captured call cannot be
#: played again later.
TOLERANCE = timedelta(minutes=5)


def secret(env: str) -> str:
    """The secret held in the environment variable ``env``; refused when it is not set."""
    value = os.environ.get(env, "")
    if not value:
        raise Unauthorized(f"the webhook secret is not set (environment variable {env})")
    return value


def check_fresh(timestamp: str | None, now: datetime) -> None:
    """Refuse a signature timestamp (seconds since 1970) more than ``TOLERANCE`` from ``now``."""
    signed_at = epoch(timestamp) if timestamp else None
    if signed_at is None:
        raise Unauthorized("the signature has no readable timestamp")
    if abs(now - signed_at) > TOLERANCE:
        raise Unauthorized(f"the signature's timestamp ({signed_at.isoformat()}) is stale")


def same(given: str | bytes, expected: str | bytes) -> bool:
    a = given.encode("utf-8") if isinstance(given, str) else given
    b = expected.encode("utf-8") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def check_credentials(settings: CredentialsWebhook, request: WebhookRequest) -> None:
    """Accept HTTP Basic credentials or the ``token`` query parameter, whichever is set up."""
    if settings.token_env is not None:
        token = request.query.get("token")
        if token is not None and same(token, secret(settings.token_env)):
            return
    if settings.username_env is not None and settings.password_env is not None:
        given = _basic(request.header("authorization"))
        if given is not None:
            user_ok = same(given[0], secret(settings.username_env))
            password_ok = same(given[1], secret(settings.password_env))
            if user_ok and password_ok:
                return
    raise Unauthorized("missing or wrong webhook credentials")


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None
