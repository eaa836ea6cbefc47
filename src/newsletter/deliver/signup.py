"""Double opt-in: a sign-up records a pending subscriber and sends a signed confirmation link;
the link, within ``subscribe.confirm_days``, makes the subscriber active.

The web face (``newsletter serve``) answers the same neutral page whatever happened here, so
that nobody can learn whether an address is subscribed; the outcome is for logs and tests.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from newsletter.config import Config
from newsletter.dates import french_date
from newsletter.deliver.audience import normalize_address
from newsletter.deliver.ledger import Ledger
from newsletter.deliver.providers import Provider, Status
from newsletter.deliver.single import send_single
from newsletter.deliver.subscribers import Added, Consent, SubscriberStatus, hash_ip
from newsletter.errors import DeliveryError
from newsletter.model import Recipient, RenderedEmail

_SALT = "newsletter-confirm"
CONSENT_SOURCE = "formulaire d'inscription (double opt-in)"


class Signup(StrEnum):
    """What a sign-up did (never shown to the person: the page is the same for all)."""

    SENT = "confirmation sent"
    ALREADY = "already subscribed"
    REFUSED = "refused"  # unsubscribed, bounced, complained, suppressed or erased
    INVALID = "invalid address"
    NOT_SENT = "confirmation could not be sent"


class Confirmation(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY = "already confirmed"
    EXPIRED = "expired"
    INVALID = "invalid"
    REFUSED = "refused"  # the address said no since, or was erased


@dataclass(frozen=True)
class SignupRequest:
    """What the form sent, once its checkbox and honeypot were checked by the face."""

    email: str
    first_name: str = ""
    #: The client's address, stored only as a salted hash with the consent.
    client: str = ""


def confirm_token(email: str, secret: bytes) -> str:
    """A signed, timestamped token for the confirmation link of ``email``."""
    return str(URLSafeTimedSerializer(secret, salt=_SALT).dumps(email.casefold()))


def confirm_address(token: str, secret: bytes, *, max_days: int) -> str | Confirmation:
    """The address a token confirms, or why it does not (expired, invalid)."""
    serializer = URLSafeTimedSerializer(secret, salt=_SALT)
    try:
        value = serializer.loads(token, max_age=max_days * 86400)
    except SignatureExpired:
        return Confirmation.EXPIRED
    except BadSignature:
        return Confirmation.INVALID
    return value if isinstance(value, str) else Confirmation.INVALID


async def request_signup(
    config: Config,
    ledger: Ledger,
    request: SignupRequest,
    *,
    secret: bytes,
    today: date,
    provider: Provider | None = None,
) -> Signup:
    """Record a pending subscriber with their consent and send the confirmation link."""
    try:
        address = normalize_address(request.email)
    except ValueError:
        return Signup.INVALID
    known = ledger.subscriber(address)
    if known is not None and known.status is SubscriberStatus.ACTIVE:
        return Signup.ALREADY
    consent = Consent(
        source=CONSENT_SOURCE,
        text=config.subscribe.consent_text,
        ip_hash=hash_ip(request.client, secret) if request.client else "",
    )
    added = ledger.add_subscriber(
        Recipient(address, first_name=request.first_name.strip()[:100]),
        status=SubscriberStatus.PENDING,
        consent=consent,
        forget_key=secret,
    )
    if added not in (Added.NEW, Added.UPDATED):
        return Signup.REFUSED
    link = config.confirm_url_template.replace("{token}", confirm_token(address, secret))
    message = confirmation_email(config, link, today)
    try:
        results = await send_single(
            config, message, [Recipient(address)], secret=secret, kind="confirm", provider=provider
        )
    except DeliveryError:
        return Signup.NOT_SENT
    return Signup.SENT if all(r.status is Status.SENT for r in results) else Signup.NOT_SENT


def confirm_signup(config: Config, ledger: Ledger, token: str, *, secret: bytes) -> Confirmation:
    """Make the subscriber of ``token`` active, if the link is valid and they may receive."""
    found = confirm_address(token, secret, max_days=config.subscribe.confirm_days)
    if isinstance(found, Confirmation):
        return found
    subscriber = ledger.subscriber(found)
    if subscriber is None or ledger.is_suppressed(found):
        return Confirmation.REFUSED
    if subscriber.status is SubscriberStatus.ACTIVE:
        return Confirmation.ALREADY
    if subscriber.status is not SubscriberStatus.PENDING:
        return Confirmation.REFUSED
    ledger.set_subscriber_status(found, SubscriberStatus.ACTIVE)
    return Confirmation.CONFIRMED


def confirmation_email(config: Config, link: str, today: date) -> RenderedEmail:
    """The French confirmation message (HTML and text) with its link."""
    title = config.newsletter.title
    sender = config.newsletter.sender.name
    days = config.subscribe.confirm_days
    subject = f"Confirmez votre inscription à « {title} »"
    text = (
        f"Bonjour,\n\nPour recevoir « {title} », confirmez votre adresse en ouvrant ce lien "
        f"(valable {days} jours) :\n\n{link}\n\nSi vous n'avez rien demandé, ignorez ce message : "
        f"vous ne recevrez rien.\n\n{sender}\n\nDemande reçue le {french_date(today)}.\n"
    )
    page = (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(subject)}'
        f"</title></head><body><p>Bonjour,</p><p>Pour recevoir « {html.escape(title)} », "
        f"confirmez votre adresse (lien valable {days} jours) :</p>"
        f'<p><a href="{html.escape(link)}">Je confirme mon inscription</a></p>'
        "<p>Si vous n'avez rien demandé, ignorez ce message : vous ne recevrez rien.</p>"
        f"<p>{html.escape(sender)}</p></body></html>"
    )
    return RenderedEmail(
        date=today, subject=subject, preheader="Un clic pour confirmer", html=page, text=text
    )
