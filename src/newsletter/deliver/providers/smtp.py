"""The ``smtp`` provider: whole messages over SMTP, with reused connections.

Options (``delivery.options``): ``host`` (default localhost), ``port`` (default 587, or 465
with ``security: tls``, 25 with ``none``), ``security`` (``starttls`` | ``tls`` | ``none``),
``username_env`` / ``password_env`` (names of environment variables holding the credentials),
``timeout`` (seconds, default 30), ``envelope_from`` (bounce address; default: the sender),
``ca_file`` (a PEM bundle to trust instead of the system's, for a private CA).

Each batch in flight holds one connection; a dropped connection is reopened for the rest of
the batch. The messages of a batch go one at a time, and each answer is recorded in the ledger
as it comes, with the message about to go (``batch.settle``): a crash leaves at most the one
message on the wire of each connection uncertain. What a failure means for the recipient
(RFC 5321):

- before the end of the message's data went out (connect, MAIL, RCPT, DATA), or a 4xx reply:
  not delivered, retryable;
- a 5xx reply to RCPT: this recipient is refused (permanent);
- a 5xx reply to MAIL or to the data: the server refuses the sender, the account or the
  message, not the recipient, so the run stops and the rest stays to send;
- the connection lost or timed out after the data's final dot, before the reply: the server
  may have taken the message, so it is uncertain (never retried; ``status`` lists it).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from newsletter.config import Config
from newsletter.deliver.providers import (
    Batch,
    BatchItem,
    Provider,
    ProviderContext,
    ProviderError,
    RecipientResult,
    Status,
    item_message,
    register_provider,
)
from newsletter.deliver.providers.options import (
    EnvName,
    ProviderOptions,
    Seconds,
    checked,
    option_problem,
)
from newsletter.errors import ConfigError

_SECURITY = ("starttls", "tls", "none")
_DEFAULT_PORT = {"starttls": 587, "tls": 465, "none": 25}


class SmtpOptions(ProviderOptions):
    host: Annotated[str, checked(str, "a host name")] = "localhost"
    #: Default: 587, or 465 with ``security: tls``, 25 with ``none``.
    port: Annotated[int, checked(int, "a port number", lambda v: 0 < v < 65536)] | None = None
    security: Annotated[
        str, checked(str, "one of " + ", ".join(_SECURITY), lambda v: v in _SECURITY)
    ] = "starttls"
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    timeout: Seconds = 30.0
    #: The bounce address; default: the sender.
    envelope_from: Annotated[str, checked(str, "an email address")] | None = None
    ca_file: Annotated[str, checked(str, "a PEM file path")] | None = None


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


class _Client(smtplib.SMTP):
    """An SMTP connection that knows whether a message's data went out whole."""

    data_sent = False

    def send(self, s: Any) -> None:
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            # Only the message data ends with the final dot; commands never do.
            self.data_sent = True


class _TlsClient(_Client, smtplib.SMTP_SSL):
    """The same over implicit TLS (port 465)."""


@register_provider
class SmtpProvider(Provider):
    """Sends each recipient's message over SMTP."""

    name: ClassVar[str] = "smtp"
    max_batch_size: ClassVar[int] = 100
    personalizes: ClassVar[bool] = False
    can_reconcile: ClassVar[bool] = False
    settles_each: ClassVar[bool] = True
    options_model: ClassVar[type[ProviderOptions]] = SmtpOptions

    def __init__(self, config: Config, secret: bytes, settings: SmtpSettings) -> None:
        self.config = config
        self.secret = secret
        self.settings = settings
        self._idle: list[_Client] = []

    @classmethod
    def from_context(cls, context: ProviderContext) -> SmtpProvider:
        opts = context.settings(SmtpOptions, cls.name)
        config = context.config
        username = password = None
        if opts.username_env:
            username = os.environ.get(opts.username_env)
            if not username:
                raise ConfigError(
                    option_problem(
                        config,
                        "username_env",
                        f"the environment variable {opts.username_env} is not set "
                        "(export it with the SMTP user name)",
                    )
                )
        if opts.password_env:
            password = os.environ.get(opts.password_env)
            if password is None:
                raise ConfigError(
                    option_problem(
                        config,
                        "password_env",
                        f"the environment variable {opts.password_env} is not set "
                        "(export it with the SMTP password)",
                    )
                )
        ca_file = None
        if opts.ca_file is not None:
            ca_file = str(config.resolve(opts.ca_file))
            if not Path(ca_file).is_file():
                raise ConfigError(option_problem(config, "ca_file", f"no such file: {ca_file}"))
        settings = SmtpSettings(
            host=opts.host,
            port=opts.port or _DEFAULT_PORT[opts.security],
            security=opts.security,
            username=username,
            password=password,
            timeout=opts.timeout,
            envelope_from=opts.envelope_from or config.newsletter.sender.email,
            ca_file=ca_file,
        )
        return cls(context.config, context.secret, settings)

    # -- connections ------------------------------------------------------------------
    def _connect(self) -> _Client:
        s = self.settings
        try:
            smtp: _Client
            if s.security == "tls":
                smtp = _TlsClient(s.host, s.port, timeout=s.timeout, context=s.tls_context())
            else:
                smtp = _Client(s.host, s.port, timeout=s.timeout)
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

    def _borrow(self) -> _Client:
        """A pooled connection that still answers, or a new one.

        Servers close connections left idle (between batches held back by ``rate``, or during
        a backoff); a NOOP finds out before a message is spent on a dead connection.
        """
        while True:
            try:
                smtp = self._idle.pop()
            except IndexError:
                return self._connect()
            try:
                code, _reply = smtp.noop()
            except (OSError, smtplib.SMTPException):
                code = 0
            if code == 250:
                return smtp
            self._discard(smtp)

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
        """Send each message in turn, each in a worker thread. Before each message (and at the
        end) ``batch.settle`` is told the answers since the last call and which message goes
        out next, so each 250 is recorded as it comes and a crash leaves only the message on
        the wire uncertain."""
        results: list[RecipientResult] = []
        fresh: list[RecipientResult] = []
        settle = batch.settle or (lambda _results, _sending: None)
        smtp: _Client | None = None
        for position, item in enumerate(batch.items):
            settle(fresh, item.idx)
            fresh = []
            # An unexpected error here leaves this message marked as on the wire: uncertain.
            step = await asyncio.to_thread(self._send_one, smtp, batch, position, item)
            smtp = step.smtp
            results.extend(step.results)
            fresh.extend(step.results)
            if step.refusal is not None:
                settle(fresh, None)
                raise ProviderError(step.refusal, results=results) from step.cause
            if step.stop:
                settle(fresh, None)
                return results
        self._release(smtp)
        settle(fresh, None)
        return results

    def _send_one(
        self, smtp: _Client | None, batch: Batch, position: int, item: BatchItem
    ) -> _Step:
        """One message on ``smtp`` (connected first if None): its result, the connection to
        go on with, or why the rest of the batch cannot go now."""
        if smtp is None:
            try:
                smtp = self._borrow()
            except ProviderError as exc:
                if position == 0:
                    raise  # nothing of this batch went out: the run stops cleanly
                # Part of the batch went out: record it, leave the rest for later.
                return _Step(None, _rest(batch, position, str(exc)), stop=True)
            except (OSError, smtplib.SMTPException) as exc:
                reason = f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}"
                return _Step(None, _rest(batch, position, reason), stop=True)
        message = item_message(batch, item, self.config, self.secret)
        if isinstance(message, RecipientResult):
            return _Step(smtp, [message])
        smtp.data_sent = False
        try:
            smtp.send_message(
                message, from_addr=self.settings.envelope_from, to_addrs=[item.recipient.email]
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (0, b""))
            return _Step(self._after_error(smtp), [_by_code(item.idx, int(code), text)])
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if not 500 <= exc.smtp_code < 600:
                after = self._after_error(smtp) if exc.smtp_code != 421 else self._drop(smtp)
                return _Step(after, [_by_code(item.idx, exc.smtp_code, exc.smtp_error)])
            # Not about this recipient: everyone after would be refused the same way.
            self._release(self._after_error(smtp))
            return _Step(None, [], refusal=_refusal(self.settings, exc), cause=exc)
        except smtplib.SMTPResponseException as exc:
            after = self._after_error(smtp) if exc.smtp_code != 421 else self._drop(smtp)
            return _Step(after, [_by_code(item.idx, exc.smtp_code, exc.smtp_error)])
        except (OSError, smtplib.SMTPException) as exc:
            if smtp.data_sent:
                # The whole message went out and the reply was lost: the server may have
                # taken it. Sending again could deliver it twice.
                result = RecipientResult(
                    item.idx,
                    Status.UNCERTAIN,
                    error=f"connection lost after the message was sent, before the "
                    f"server's answer ({exc or type(exc).__name__}): maybe delivered",
                )
            else:
                # Lost before the end of the data: the server discards the message.
                result = RecipientResult(
                    item.idx, Status.RETRYABLE, error=f"connection lost: {exc}"
                )
            return _Step(self._drop(smtp), [result])
        return _Step(smtp, [RecipientResult(item.idx, Status.SENT, message_id=item.message_id)])

    def _release(self, smtp: _Client | None) -> None:
        if smtp is not None:
            self._idle.append(smtp)

    def _after_error(self, smtp: _Client) -> _Client | None:
        try:
            smtp.rset()
        except (OSError, smtplib.SMTPException):
            return self._drop(smtp)
        return smtp

    def _drop(self, smtp: _Client) -> _Client | None:
        """Close a connection that cannot be trusted any more; the next message reconnects."""
        self._discard(smtp)
        return None


@dataclass
class _Step:
    """What one message of a batch came to (see ``SmtpProvider._send_one``)."""

    smtp: _Client | None
    results: list[RecipientResult]
    #: The rest of the batch cannot go now (no connection); its results are in ``results``.
    stop: bool = False
    #: The server refused the sender or the message (5xx): the run stops.
    refusal: str | None = None
    cause: BaseException | None = None


def _rest(batch: Batch, position: int, reason: str) -> list[RecipientResult]:
    return [
        RecipientResult(rest.idx, Status.RETRYABLE, error=reason) for rest in batch.items[position:]
    ]


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        SmtpProvider._discard(smtp)


def _refusal(settings: SmtpSettings, exc: smtplib.SMTPResponseException) -> str:
    reply = exc.smtp_error
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    what = (
        f"the sender {settings.envelope_from}"
        if isinstance(exc, smtplib.SMTPSenderRefused)
        else "the message"
    )
    return (
        f"smtp {settings.host}:{settings.port}: the server refused {what} "
        f"({exc.smtp_code} {text.strip()}); this is not about the recipients, so the send "
        "stops and they stay to send. Check the account (credentials, sender address, "
        "quota) and the message, then run send again"
    )


def _by_code(idx: int, code: int, text: bytes | str) -> RecipientResult:
    reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    error = f"{code} {reason}".strip()
    if 400 <= code < 500 or code in (0, -1):
        return RecipientResult(idx, Status.RETRYABLE, error=error)
    return RecipientResult(idx, Status.PERMANENT, error=error)
