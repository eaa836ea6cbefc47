"""The ``smtp`` provider: whole messages over SMTP, with reused connections.

Options (``delivery.options``): ``host`` (default localhost), ``port`` (default 587, or 465
with ``security: tls``, 25 with ``none``), ``security`` (``starttls`` | ``tls`` | ``none``),
``username_env`` / ``password_env`` (names of environment variables holding the credentials),
``timeout`` (seconds, default 30), ``envelope_from`` (bounce address; default: the sender),
``ca_file`` (a PEM bundle to trust instead of the system's, for a private CA).

Each request in flight holds one connection; a dropped connection is reopened for the rest
of the batch. A message the server did not accept with a 250 reply is not delivered (RFC
5321: the server takes responsibility with that reply), so it is retryable.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
    Provider,
    ProviderContext,
    ProviderError,
    RecipientResult,
    Status,
    option,
    register_provider,
)
from newsletter.errors import ConfigError
from newsletter.message import build_message

_SECURITY = ("starttls", "tls", "none")
_DEFAULT_PORT = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    timeout: float
    envelope_from: str
    ca_file: str | None = None

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


@register_provider
class SmtpProvider(Provider):
    """Sends each recipient's message over SMTP."""

    name: ClassVar[str] = "smtp"
    max_batch_size: ClassVar[int] = 100
    personalizes: ClassVar[bool] = False
    can_reconcile: ClassVar[bool] = False

    def __init__(self, config: Config, secret: bytes, settings: SmtpSettings) -> None:
        self.config = config
        self.secret = secret
        self.settings = settings
        self._idle: list[smtplib.SMTP] = []

    @classmethod
    def from_context(cls, context: ProviderContext) -> SmtpProvider:
        opts = context.options
        security = option(
            opts,
            "security",
            str,
            "starttls",
            check=lambda v: v in _SECURITY,
            expect="one of " + ", ".join(_SECURITY),
        )
        port = option(
            opts,
            "port",
            int,
            _DEFAULT_PORT[security],
            check=lambda v: 0 < v < 65536,
            expect="a port number",
        )
        username = password = None
        user_env = option(opts, "username_env", str, None, expect="an environment variable name")
        pass_env = option(opts, "password_env", str, None, expect="an environment variable name")
        if user_env:
            username = os.environ.get(user_env)
            if not username:
                raise ConfigError(
                    f"delivery.options.username_env: the environment variable {user_env} "
                    "is not set (export it with the SMTP user name)"
                )
        if pass_env:
            password = os.environ.get(pass_env)
            if password is None:
                raise ConfigError(
                    f"delivery.options.password_env: the environment variable {pass_env} "
                    "is not set (export it with the SMTP password)"
                )
        ca_file = option(opts, "ca_file", str, None, expect="a PEM file path")
        if ca_file is not None:
            ca_file = str(context.config.resolve(ca_file))
            if not Path(ca_file).is_file():
                raise ConfigError(f"delivery.options.ca_file: no such file: {ca_file}")
        settings = SmtpSettings(
            host=option(opts, "host", str, "localhost", expect="a host name"),
            port=port,
            security=security,
            username=username,
            password=password,
            timeout=option(
                opts, "timeout", float, 30.0, check=lambda v: v > 0, expect="seconds (> 0)"
            ),
            envelope_from=option(
                opts,
                "envelope_from",
                str,
                context.config.newsletter.sender.email,
                expect="an email address",
            ),
            ca_file=ca_file,
        )
        return cls(context.config, context.secret, settings)

    # -- connections ------------------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=s.tls_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            try:
                self._greet(smtp)
            except BaseException:
                self._discard(smtp)
                raise
        except ssl.SSLCertVerificationError as exc:
            raise ProviderError(
                f"smtp {s.host}:{s.port}: the server's certificate is not trusted "
                f"({exc.verify_message}); fix the server's certificate, or point "
                "delivery.options.ca_file at the CA that signed it"
            ) from exc
        return smtp

    def _greet(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                smtp.starttls(context=s.tls_context())
                smtp.ehlo()
            if s.username is not None and s.password is not None:
                smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise ProviderError(
                f"smtp {s.host}:{s.port}: authentication refused ({exc.smtp_code}); check the "
                "credentials in the variables named by delivery.options.username_env/password_env"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ProviderError(
                f"smtp {s.host}:{s.port}: {exc} (set delivery.options.security to 'none' or "
                "'tls' to match the server)"
            ) from exc

    def _borrow(self) -> smtplib.SMTP:
        return self._idle.pop() if self._idle else self._connect()

    @staticmethod
    def _discard(smtp: smtplib.SMTP | None) -> None:
        if smtp is None:
            return
        try:
            smtp.close()
        except OSError:
            pass

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for smtp in idle:
            await asyncio.to_thread(_quit, smtp)

    # -- sending ----------------------------------------------------------------------
    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        return await asyncio.to_thread(self._send_batch, batch)

    def _send_batch(self, batch: Batch) -> list[RecipientResult]:
        results: list[RecipientResult] = []
        smtp: smtplib.SMTP | None = None
        for position, item in enumerate(batch.items):
            if smtp is None:
                try:
                    smtp = self._borrow()
                except ProviderError as exc:
                    if position == 0:
                        raise  # nothing of this batch went out: the run stops cleanly
                    # Part of the batch went out: record it, leave the rest for later.
                    results.extend(
                        RecipientResult(rest.idx, Status.RETRYABLE, error=str(exc))
                        for rest in batch.items[position:]
                    )
                    return results
                except (OSError, smtplib.SMTPException) as exc:
                    reason = f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}"
                    results.extend(
                        RecipientResult(rest.idx, Status.RETRYABLE, error=reason)
                        for rest in batch.items[position:]
                    )
                    return results
            message = build_message(
                batch.rendered,
                item.recipient,
                self.config,
                secret=self.secret,
                test=batch.test,
                message_id=item.message_id,
            )
            try:
                smtp.send_message(
                    message, from_addr=self.settings.envelope_from, to_addrs=[item.recipient.email]
                )
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()), (0, b""))
                results.append(_by_code(item.idx, int(code), text))
                smtp = self._after_error(smtp)
                continue
            except smtplib.SMTPResponseException as exc:
                results.append(_by_code(item.idx, exc.smtp_code, exc.smtp_error))
                smtp = self._after_error(smtp) if exc.smtp_code != 421 else self._drop(smtp)
                continue
            except (OSError, smtplib.SMTPException) as exc:
                # The connection dropped before the server's 250: not delivered; reconnect.
                results.append(
                    RecipientResult(item.idx, Status.RETRYABLE, error=f"connection lost: {exc}")
                )
                smtp = self._drop(smtp)
                continue
            results.append(RecipientResult(item.idx, Status.SENT, message_id=item.message_id))
        if smtp is not None:
            self._idle.append(smtp)
        return results

    def _after_error(self, smtp: smtplib.SMTP) -> smtplib.SMTP | None:
        try:
            smtp.rset()
        except (OSError, smtplib.SMTPException):
            return self._drop(smtp)
        return smtp

    def _drop(self, smtp: smtplib.SMTP) -> smtplib.SMTP | None:
        """Close a connection that cannot be trusted any more; the next message reconnects."""
        self._discard(smtp)
        return None


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        SmtpProvider._discard(smtp)


def _by_code(idx: int, code: int, text: bytes | str) -> RecipientResult:
    reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    error = f"{code} {reason}".strip()
    if 400 <= code < 500 or code in (0, -1):
        return RecipientResult(idx, Status.RETRYABLE, error=error)
    return RecipientResult(idx, Status.PERMANENT, error=error)
