"""Notices to the editors: what failed, for which issue, what to do; and a file for each.

A notice goes to ``delivery.test_recipients`` through ``notify:`` when it is configured, else
through the delivery provider. Every notice is also kept as a JSON file under
``paths.state/alerts/`` (time, issue, subject, text, delivered or not and why), written before
it is sent, so a notice that could not be delivered is never lost: ``newsletter status`` lists it.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from newsletter.config import Config
from newsletter.dates import french_date
from newsletter.deliver.providers import (
    Provider,
    ProviderContext,
    Status,
    provider_class,
)
from newsletter.deliver.single import send_single
from newsletter.files import atomic_write
from newsletter.model import Recipient, RenderedEmail
from newsletter.tokens import load_secret

log = logging.getLogger(__name__)

ALERTS_DIR = "alerts"
#: How many delivered notices ``status`` lists besides the undelivered ones.
RECENT_ALERTS = 3


@dataclass(frozen=True)
class Notice:
    """One notice to the editors, as kept in ``paths.state/alerts/ID.json``."""

    id: str
    time: str  # UTC, ISO 8601
    issue: str | None
    job: str | None
    subject: str
    text: str
    recipients: tuple[str, ...]
    provider: str
    delivered: bool = False
    why: str = "not sent yet"


def local_time(moment: datetime, tz: tzinfo) -> str:
    """A time as people read it: ``Thu 2026-12-03 09:20 +0100`` in the configured zone."""
    return moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %z")


def french_time(moment: datetime, tz: tzinfo) -> str:
    """A time as the editors read it in a notice: ``jeudi 3 décembre 2026 à 09:00 (UTC+01:00)``."""
    local = moment.astimezone(tz)
    offset = local.strftime("%z")
    return f"{french_date(local.date())} à {local:%H:%M} (UTC{offset[:3]}:{offset[3:]})"


def notice_provider(config: Config, secret: bytes, notice_id: str) -> Provider:
    """The provider that carries notices: ``notify:`` when configured, else ``delivery``.

    The one place where a notice's provider is built.
    """
    settings = config.notify or config.delivery
    options = dict(settings.options)
    if settings.provider == "outbox":
        # One folder per notice, away from the issue's own messages, so that notices never
        # overwrite each other or mix with what subscribers got.
        base = options.get("outbox_dir")
        root = config.resolve(str(base)) if base else config.state_dir / "outbox"
        options["outbox_dir"] = str(root / ALERTS_DIR / notice_id)
    cls = provider_class(settings.provider)
    return cls.from_context(ProviderContext(config, secret, options))


def compose(
    config: Config, day: date, what: str, reasons: Sequence[str], advice: str
) -> tuple[str, str, str]:
    """Subject, text and HTML of a notice (French)."""
    when = french_date(day)
    subject = f"[{config.newsletter.title}] numéro du {when} : {what}"
    lines = [f"{what[:1].upper()}{what[1:]} pour le numéro du {when} ({day.isoformat()}).", ""]
    lines += [f"- {reason}" for reason in reasons] or ["- (aucun détail)"]
    lines += ["", f"Que faire : {advice}", "", "-- le planificateur de la lettre"]
    items = "".join(f"<li>{html.escape(reason)}</li>" for reason in reasons)
    page = (
        f'<!doctype html><html lang="fr"><body><p>{html.escape(lines[0])}</p><ul>{items}</ul>'
        f"<p><strong>Que faire :</strong> {html.escape(advice)}</p></body></html>"
    )
    return subject, "\n".join(lines), page


def default_advice(day: date) -> str:
    return (
        f"corrigez ce qui est indiqué, vérifiez avec 'newsletter check {day}', puis lancez "
        f"'newsletter send {day}' ; rien n'a été envoyé aux abonnés."
    )


def notify_editors(
    config: Config,
    day: date,
    what: str,
    reasons: Sequence[str],
    *,
    advice: str | None = None,
    job: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Tell the editors (``delivery.test_recipients``) what failed; True when it was delivered.

    The notice is kept under ``paths.state/alerts/`` whatever happens, and the log says
    whether the editors were told or not, and why not.
    """
    for reason in reasons:
        log.error("%s (%s): %s", what, day, reason)
    subject, text, page = compose(config, day, what, reasons, advice or default_advice(day))
    moment = now or datetime.now(UTC)
    notice = Notice(
        id=f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        time=moment.astimezone(UTC).isoformat(timespec="seconds"),
        issue=day.isoformat(),
        job=job,
        subject=subject,
        text=text,
        recipients=tuple(config.delivery.test_recipients),
        provider=(config.notify or config.delivery).provider,
    )
    path = save_notice(config, notice)
    if not notice.recipients:
        why = "no delivery.test_recipients to tell: add the editors' addresses"
    else:
        rendered = RenderedEmail(date=day, subject=subject, preheader=what, html=page, text=text)
        why = _deliver(config, notice, rendered)
    notice = replace(notice, delivered=not why, why=why or "delivered")
    save_notice(config, notice)
    if why:
        log.error("editors NOT told: %s (notice kept in %s)", why, path)
        return False
    log.info("editors told at %s: %s", ", ".join(notice.recipients), subject)
    return True


def _deliver(config: Config, notice: Notice, rendered: RenderedEmail) -> str:
    """Send the notice; an empty string when every editor got it, else why not."""
    recipients = [Recipient(email=address) for address in notice.recipients]

    async def send() -> str:
        secret = load_secret(config)
        async with notice_provider(config, secret, notice.id) as provider:
            results = await send_single(
                config, rendered, recipients, secret=secret, kind="alert", provider=provider
            )
        failed = [r for r in results if r.status is not Status.SENT]
        if not failed and len(results) == len(recipients):
            return ""
        return "; ".join(f"{r.status.value}: {r.error or 'no answer'}" for r in failed) or (
            "the provider did not answer for every editor"
        )

    try:
        return asyncio.run(send())
    except Exception as exc:  # a notice must never take the scheduler down
        return f"{type(exc).__name__}: {exc}"


# -- the kept notices -------------------------------------------------------------------------


def alerts_dir(config: Config) -> Path:
    return config.state_dir / ALERTS_DIR


def save_notice(config: Config, notice: Notice) -> Path:
    path = alerts_dir(config) / f"{notice.id}.json"
    try:
        atomic_write(path, json.dumps(asdict(notice), ensure_ascii=False, indent=2) + "\n")
    except OSError as exc:
        log.error("cannot keep the notice in %s: %s", path, exc)
    return path


def read_notices(config: Config) -> list[Notice]:
    """Every kept notice, oldest first; unreadable files are skipped."""
    folder = alerts_dir(config)
    notices = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["recipients"] = tuple(data.get("recipients", ()))
            notices.append(Notice(**data))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("%s: not a readable notice: %s", path, exc)
    return notices


def alert_lines(config: Config, *, recent: int = RECENT_ALERTS) -> list[str]:
    """What ``status`` says about notices: every undelivered one, then the last few others."""
    notices = read_notices(config)
    if not notices:
        return []
    tz = config.newsletter.tz
    undelivered = [n for n in notices if not n.delivered]
    shown = undelivered + [n for n in notices if n.delivered][-recent:]
    lines = [
        f"notices to the editors: {len(notices)} kept in {alerts_dir(config)}, "
        f"{len(undelivered)} not delivered"
    ]
    for notice in sorted(shown, key=lambda n: n.time):
        when = local_time(datetime.fromisoformat(notice.time), tz)
        state = "delivered" if notice.delivered else f"NOT delivered ({notice.why})"
        lines.append(f"  {when}  {notice.subject}  [{state}]")
    return lines
