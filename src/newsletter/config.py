"""Load and validate ``schedule.yaml``: typed settings, or errors that name the key path and line.

No logic lives here beyond validation and resolving paths against the config file's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from newsletter.cron import cron_trigger
from newsletter.errors import ConfigError, Location, Problem
from newsletter.files import decode_utf8
from newsletter.i18n import activate, language
from newsletter.model import Section, Source
from newsletter.yaml_errors import describe_yaml_error
from newsletter.yaml_text import load_text

DEFAULT_CONFIG = "schedule.yaml"
CONFIG_ENV = "NEWSLETTER_CONFIG"
PROVIDERS = ("outbox", "smtp", "brevo", "mailjet", "postmark", "sendgrid", "mailgun", "resend")


def check_email(value: str) -> str:
    """Validate an address's syntax (no DNS) and return it normalized."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from exc


def check_http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or len(value) < 9:
        raise ValueError(f"must be an absolute http(s) URL (got {value!r})")
    return value


def check_cron(value: str) -> str:
    try:
        cron_trigger(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {value!r}: {exc}") from exc
    return value


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """``30m``, ``3h``, ``1d`` (or ``45s``) as a timedelta; ValueError saying what is expected."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"invalid duration {value!r}: use a positive number and a unit, such as 30m, 3h or 1d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def format_duration(value: timedelta) -> str:
    """The shortest of ``1d``, ``3h``, ``15m``, ``45s`` that says ``value`` exactly."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


EmailAddress = Annotated[str, AfterValidator(check_email)]
#: A duration written as ``30m``, ``3h`` or ``1d`` in the file.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def check_one_line(value: str) -> str:
    """Text that goes into an email header: one line, no control characters."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(
            f"must be one line of text without control characters (got {value!r}): it goes "
            "into the email's headers"
        )
    return value


#: Text that ends up in a header (the sender's name, the newsletter's title).
HeaderText = Annotated[str, AfterValidator(check_one_line)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sender(_Strict):
    name: HeaderText
    email: str

    _email = field_validator("email")(check_email)


class Theme(_Strict):
    """Look of the default templates; every key is optional."""

    primary_color: str = "#0a6e5c"
    accent_color: str = "#f2a900"
    background_color: str = "#f4f5f2"
    text_color: str = "#1f2a2e"
    logo_url: str | None = None
    footer_text: str = ""
    postal_address: str = ""


class NewsletterSettings(_Strict):
    title: HeaderText
    language: str = "fr"
    timezone: str = "Europe/Paris"
    sender: Sender
    reply_to: str | None = None
    web_url: str
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    secret_env: str = "NEWSLETTER_SECRET"  # noqa: S105 (a variable name)
    window_days: int = Field(default=7, ge=1, le=62)
    #: What a placeholder becomes for a reader who has no value for it, such as
    #: {first_name: "chère lectrice, cher lecteur"}; without one it becomes empty.
    placeholder_defaults: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], str] = Field(
        default_factory=dict
    )

    _reply_to = field_validator("reply_to")(lambda v: None if v is None else check_email(v))
    _mailto = field_validator("unsubscribe_mailto")(lambda v: None if v is None else check_email(v))
    _web_url = field_validator("web_url")(check_http_url)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as 'Europe/Paris')"
            ) from exc
        return value

    @field_validator("unsubscribe_url")
    @classmethod
    def _token_slot(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("https://"):
            raise ValueError(
                f"must be an https URL (got {value!r}): mailbox providers only honour one-click "
                "unsubscribe (RFC 8058) over https"
            )
        if "{token}" not in value:
            raise ValueError("must contain '{token}' where the unsubscribe token goes")
        return value

    @model_validator(mode="after")
    def _https_unsubscribe(self) -> NewsletterSettings:
        if self.unsubscribe_url is None and not self.web_url.startswith("https://"):
            raise ValueError(
                "web_url is not https, so the default unsubscribe link (web_url/unsubscribe/"
                "{token}) would not be either: set an https 'unsubscribe_url'"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def unsubscribe_url_template(self) -> str:
        return self.unsubscribe_url or self.web_url.rstrip("/") + "/unsubscribe/{token}"


DEFAULT_CONSENT_TEXT = (
    "J'accepte de recevoir cette lettre d'information par email chaque jeudi. Je peux me "
    "désinscrire à tout moment par le lien présent dans chaque envoi."
)


class SubscribeSettings(_Strict):
    """The public sign-up (double opt-in): what readers agree to, where they confirm."""

    #: Shown beside the consent checkbox and recorded with each subscriber's consent.
    consent_text: str = DEFAULT_CONSENT_TEXT
    #: The confirmation link, with {token}; default: the unsubscribe link's, with 'confirm'.
    confirm_url: str | None = None
    #: How long a confirmation link stays valid.
    confirm_days: int = Field(default=7, ge=1, le=60)

    @field_validator("confirm_url")
    @classmethod
    def _confirm_slot(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("https://") or "{token}" not in value):
            raise ValueError(f"must be an https URL with '{{token}}' in it (got {value!r})")
        return value


class PathsSettings(_Strict):
    bulletins: str = "bulletins"
    templates: str = "templates"
    build: str = "build"
    archive: str = "archive"
    state: str = ".newsletter"


class SectionSettings(_Strict):
    id: str
    title: str

    @field_validator("id")
    @classmethod
    def _id_form(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
            raise ValueError(
                f"{value!r} is not a valid section id: use lowercase letters, digits, '-' and "
                "'_' (for example 'territoires')"
            )
        return value


class SourceSettings(_Strict):
    name: str
    feed: str
    section: str
    max_items: int | None = Field(default=None, ge=1)
    enabled: bool = True

    @field_validator("feed")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", value)
        # A single letter before ':' is a Windows drive, not a scheme.
        if scheme and len(scheme.group(1)) > 1:
            if scheme.group(1).lower() not in ("http", "https", "file"):
                raise ValueError(
                    f"{value!r}: a feed is an http(s) URL, a file: URL or a local path "
                    f"('{scheme.group(1)}:' is not supported)"
                )
        return value


class CollectSettings(_Strict):
    """How collect treats what it finds (the CLI's options only override these)."""

    #: Feed summaries are cut after this many words; 0 keeps them whole.
    summary_words: int = Field(default=60, ge=0)
    #: ... and after this many characters (a one-word megabyte is cut too); 0: no limit.
    summary_chars: int = Field(default=600, ge=0)
    #: The newest items of the week kept per source (a source's own ``max_items`` wins);
    #: null keeps them all.
    max_items_per_source: int | None = Field(default=30, ge=1)


class JobSettings(_Strict):
    cron: str
    #: How late a missed run may still start (the scheduler was down, or a retry); None: the
    #: job's default (collect 12h, test_send 6h, send 3h).
    grace: Duration | None = None
    _cron = field_validator("cron")(check_cron)


class SendJobSettings(JobSettings):
    require_approval: bool = True
    skip_if_empty: bool = True
    #: How often a send that failed for a transient reason is tried again, within its grace.
    retry_every: Duration = timedelta(minutes=15)


class JobsSettings(_Strict):
    collect: JobSettings | None = None
    test_send: JobSettings | None = None
    send: SendJobSettings | None = None


class AudienceSettings(_Strict):
    csv: str | None = None
    list_id: str | None = None
    #: ``all``: the active subscribers of the subscriber store (``newsletter subscribers``).
    subscribers: Literal["all"] | None = None

    @field_validator("list_id", mode="before")
    @classmethod
    def _number_is_fine(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> AudienceSettings:
        given = [v for v in (self.csv, self.list_id, self.subscribers) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'csv', 'list_id' or 'subscribers: all'")
        return self


class DeliverySettings(_Strict):
    #: A provider's name; checked against the registry by ``newsletter.deliver.settings``.
    provider: str = "outbox"
    audience: AudienceSettings = AudienceSettings(csv="samples/subscribers.csv")
    test_recipients: list[EmailAddress] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class NotifySettings(_Strict):
    """Where notices to the editors go (``notify:``); without it, through ``delivery``."""

    #: A provider's name; checked against the registry by ``newsletter.deliver.settings``.
    provider: str
    options: dict[str, Any] = Field(default_factory=dict)


# -- webhooks: the providers' bounce and complaint notices (``newsletter.feedback``) ------
#: The name of an environment variable that holds a secret (never the secret itself).
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class MailgunWebhook(_Strict):
    """Mailgun signs each call with the domain's HTTP webhook signing key."""

    signing_key_env: EnvName


class SendGridWebhook(_Strict):
    """SendGrid's signed event webhook: the verification key, base64 DER as SendGrid shows it."""

    public_key_env: EnvName


class ResendWebhook(_Strict):
    """Resend signs through Svix: the endpoint's signing secret (``whsec_...``)."""

    secret_env: EnvName


class CredentialsWebhook(_Strict):
    """Providers that do not sign (Postmark, Brevo, Mailjet): HTTP Basic credentials in the
    URL they call, or a secret token in its query (``?token=...``), or both."""

    username_env: EnvName | None = None
    password_env: EnvName | None = None
    token_env: EnvName | None = None

    @model_validator(mode="after")
    def _some_credential(self) -> CredentialsWebhook:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both 'username_env' and 'password_env', or neither")
        if self.username_env is None and self.token_env is None:
            raise ValueError("give 'username_env' and 'password_env', or 'token_env'")
        return self


class WebhooksSettings(_Strict):
    """Which providers may call ``/webhooks/{provider}``; a provider left out answers 404."""

    mailgun: MailgunWebhook | None = None
    sendgrid: SendGridWebhook | None = None
    resend: ResendWebhook | None = None
    postmark: CredentialsWebhook | None = None
    brevo: CredentialsWebhook | None = None
    mailjet: CredentialsWebhook | None = None


class StateSettings(_Strict):
    """Where the ledger, the subscribers and the job history live (``state:``): SQLite files
    in ``paths.state`` by default, or the PostgreSQL database whose ``postgresql://`` URL is in
    the environment variable named by ``database_url_env`` (several hosts share it)."""

    database_url_env: EnvName | None = None


DEFAULT_SECTIONS = [
    SectionSettings(id="territoires", title="Bonnes nouvelles des territoires"),
    SectionSettings(id="publications", title="Publications"),
    SectionSettings(id="agenda", title="Agenda"),
]


class Config(_Strict):
    """The whole of ``schedule.yaml``, validated; paths resolve against the file's folder."""

    newsletter: NewsletterSettings
    paths: PathsSettings = PathsSettings()
    theme: Theme = Theme()
    sections: list[SectionSettings] = Field(default_factory=lambda: list(DEFAULT_SECTIONS))
    sources: list[SourceSettings] = Field(default_factory=list)
    collect: CollectSettings = CollectSettings()
    jobs: JobsSettings = JobsSettings()
    delivery: DeliverySettings = DeliverySettings()
    subscribe: SubscribeSettings = SubscribeSettings()
    notify: NotifySettings | None = None

    webhooks: WebhooksSettings = WebhooksSettings()
    state: StateSettings = StateSettings()

    _root: Path = PrivateAttr(default_factory=Path.cwd)
    _file: Path | None = PrivateAttr(default=None)
    _key_lines: dict[str, int] = PrivateAttr(default_factory=dict)

    # -- resolved views -------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self._root

    @property
    def file(self) -> Path | None:
        return self._file

    def resolve(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self._root / path

    def where(self, key_path: str) -> str | None:
        """``file:line`` of a dotted key path (``delivery.options.batch_size``), or of its
        deepest parent written in the file; None when the config was not read from a file."""
        location = self.location(key_path)
        return None if location is None else str(location)

    def location(self, key_path: str, *, exact: bool = False) -> Location | None:
        """The file and line of a dotted key path (or of its deepest parent written in the
        file, unless ``exact``), as data; None when not read from a file or not found."""
        if self._file is None:
            return None
        parts = key_path.split(".")
        while parts and (not exact or len(parts) == len(key_path.split("."))):
            line = self._key_lines.get(".".join(parts))
            if line is not None:
                return Location(str(self._file), line)
            parts.pop()
        return None

    def problem(self, key_path: str, message: str) -> Problem:
        """A problem about a key of schedule.yaml, located at that key's line:
        ``schedule.yaml:12: delivery.options.rate: expected a number``."""
        return Problem(f"{key_path}: {message}", self.location(key_path))

    @property
    def bulletins_dir(self) -> Path:
        return self.resolve(self.paths.bulletins)

    @property
    def templates_dir(self) -> Path:
        return self.resolve(self.paths.templates)

    @property
    def build_dir(self) -> Path:
        return self.resolve(self.paths.build)

    @property
    def archive_dir(self) -> Path:
        return self.resolve(self.paths.archive)

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.paths.state)

    @property
    def confirm_url_template(self) -> str:
        """Where a new subscriber confirms: ``subscribe.confirm_url``, else the unsubscribe
        link with ``confirm`` in place of ``unsubscribe`` (or ``/confirm/{token}`` beside it)."""
        if self.subscribe.confirm_url is not None:
            return self.subscribe.confirm_url
        template = self.newsletter.unsubscribe_url_template
        if "/unsubscribe/{token}" in template:
            return template.replace("/unsubscribe/{token}", "/confirm/{token}")
        return template.split("{token}", 1)[0].rstrip("/").rsplit("/", 1)[0] + "/confirm/{token}"

    @property
    def section_list(self) -> tuple[Section, ...]:
        return tuple(Section(s.id, s.title) for s in self.sections)

    @property
    def source_list(self) -> tuple[Source, ...]:
        return tuple(
            Source(s.name, s.feed, s.section, s.max_items) for s in self.sources if s.enabled
        )


# -- loading --------------------------------------------------------------------------


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file: the explicit one, else ``$NEWSLETTER_CONFIG``, else ./schedule.yaml."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else Path(DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read, parse and validate the config file; raise ConfigError naming each problem's line."""
    file = config_path(path)
    try:
        text = decode_utf8(file.read_bytes(), str(file))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{file}: no such config file (pass --config PATH, set ${CONFIG_ENV}, or run "
            f"'newsletter init DIR')"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc}") from exc
    if isinstance(text, Problem):
        raise ConfigError(text)
    config = parse_config(text, file)
    # Editors' messages follow the config's language from here on ($NEWSLETTER_LANG wins).
    activate(language(config.newsletter.language))
    return config


def parse_config(text: str, file: Path) -> Config:
    try:
        data = load_text(YAML(typ="rt"), text)
    except MarkedYAMLError as exc:
        line, message = describe_yaml_error(exc)
        raise ConfigError(f"{file}:{line}: {message}") from exc
    except YAMLError as exc:
        raise ConfigError(f"{file}: invalid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{file}:1: the config must be a mapping with a 'newsletter:' key")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        described = [_describe(error, data, file) for error in exc.errors()]
        problems = [text for _, text in sorted(described, key=lambda pair: pair[0])]
        raise ConfigError(problems[0], problems) from exc
    problems = _cross_references(config, data, file)
    if problems:
        raise ConfigError(problems[0], problems)
    root = file.resolve().parent
    config._root = root
    config._file = file
    config._key_lines = dict(_key_lines(data))
    return config


def _cross_references(config: Config, data: Any, file: Path) -> list[str]:
    """Problems that span keys: duplicate ids and names, sources naming unknown sections."""
    problems: list[str] = []
    ids = [s.id for s in config.sections]
    if not ids:
        problems.append(f"{file}:{_line_of(data, ('sections',))}: sections: at least one is needed")
    seen: set[str] = set()
    for index, section_id in enumerate(ids):
        if section_id in seen:
            line = _line_of(data, ("sections", index, "id"))
            problems.append(f"{file}:{line}: sections.{index}.id: duplicate id '{section_id}'")
        seen.add(section_id)
    names: set[str] = set()
    for index, source in enumerate(config.sources):
        if source.name in names:
            line = _line_of(data, ("sources", index, "name"))
            problems.append(f"{file}:{line}: sources.{index}.name: duplicate name '{source.name}'")
        names.add(source.name)
        if source.section not in seen:
            line = _line_of(data, ("sources", index, "section"))
            problems.append(
                f"{file}:{line}: sources.{index}.section: unknown section '{source.section}' "
                f"(sections: {', '.join(ids)})"
            )
    return problems


def _describe(error: Any, data: Any, file: Path) -> tuple[int, str]:
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in loc) or "(top level)"
    line = _line_of(data, loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        message = f"unknown key '{path}'"
    elif kind == "missing":
        message = f"missing required key '{path}'"
    elif kind == "model_type" or kind == "dict_type":
        message = f"{path}: must be a mapping of keys to values (key: value lines, or {{...}})"
    elif kind == "list_type":
        message = f"{path}: must be a list ('- ' lines, or [...])"
    else:
        msg = str(error["msg"]).removeprefix("Value error, ")
        message = f"{path}: {msg}"
    return line, f"{file}:{line}: {message}"


def _key_lines(node: Any, prefix: str = "") -> Iterator[tuple[str, int]]:
    """Every key path of the YAML tree (``a.b``, ``sources.0.feed``) with its 1-based line."""
    if isinstance(node, CommentedMap):
        for key in node:
            path = f"{prefix}{key}"
            yield path, node.lc.key(key)[0] + 1
            yield from _key_lines(node[key], f"{path}.")
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            path = f"{prefix}{index}"
            yield path, node.lc.item(index)[0] + 1
            yield from _key_lines(item, f"{path}.")


def _line_of(data: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node of ``loc`` present in the YAML tree."""
    line = 1
    node = data
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line
