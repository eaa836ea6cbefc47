"""The deployment files ``newsletter init`` writes under ``deploy/``: systemd units for the
scheduler, ``serve`` and the desk, the environment file template for the secrets, and an nginx
site in front of ``serve`` and the desk.

The templates are package data (``deploy/files/``, in the wheel with the package); their
``@@NAME@@`` slots are filled from the project (its folder, ``schedule.yaml``'s paths and URLs)
and the virtual environment of the running interpreter.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from newsletter.config import DEFAULT_CONFIG, Config, load_config
from newsletter.errors import NewsletterError

FILES = Path(__file__).resolve().parent / "files"
UNITS = ("newsletter-scheduler.service", "newsletter-serve.service", "newsletter-desk.service")
ENV_EXAMPLE = "newsletter.env.example"
NGINX_SITE = "nginx-newsletter.conf"
DEPLOY_FILES = (*UNITS, ENV_EXAMPLE, NGINX_SITE)
#: Where the units read the secrets from (the filled-in copy of ``newsletter.env.example``).
ENV_FILE = "/etc/newsletter/newsletter.env"
#: Where the units point when ``init`` does not run from a virtual environment: to replace.
PLACEHOLDER_BIN = Path("/opt/newsletter/venv/bin")
SERVE_PORT = 8018  # newsletter.serve.server.DEFAULT_PORT (serve is a face: not imported here)
DESK_PORT = 8017
DATABASE_URL_ENV = "NEWSLETTER_DATABASE_URL"
_HOMES = (Path("/home"), Path("/root"), Path("/run/user"))
_ENV_KEY = re.compile(r"\b(\w+_env)\s*:\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)")
_SLOT = re.compile(r"@@([A-Z_]+)@@")
_PROXY_HEADERS = """\
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
"""


@dataclass(frozen=True)
class DeploySettings:
    """What the deployment files are filled with."""

    project: Path
    config_file: Path
    #: The folder of the ``newsletter`` command; None: not in a venv (a placeholder is written).
    bin_dir: Path | None
    state: Path
    bulletins: Path
    build: Path
    archive: Path
    server_name: str = "example.org"
    web_path: str = "/"
    unsubscribe_path: str = "/unsubscribe/"
    confirm_path: str = "/confirm/"
    secret_env: str = "NEWSLETTER_SECRET"  # noqa: S105 (a variable's name)
    provider: str = "outbox"
    #: The provider's secret variables as configured (``delivery.options.*_env``).
    provider_envs: tuple[str, ...] = ()
    #: Every other ``*_env`` value written in ``schedule.yaml``.
    other_envs: tuple[str, ...] = field(default=())
    user: str = "newsletter"
    group: str = "newsletter"
    serve_port: int = SERVE_PORT
    desk_port: int = DESK_PORT

    @property
    def desk_server_name(self) -> str:
        return f"desk.{self.server_name}"

    @property
    def command_dir(self) -> Path:
        return self.bin_dir or PLACEHOLDER_BIN

    @property
    def under_home(self) -> bool:
        paths = (self.project, self.command_dir, self.state, self.bulletins)
        return any(path.is_relative_to(home) for path in paths for home in _HOMES)


def running_venv_bin() -> Path | None:
    """The ``bin`` folder of the running interpreter's virtual environment (where pip put the
    ``newsletter`` command), or None outside a virtual environment."""
    if sys.prefix == sys.base_prefix:
        return None
    return Path(sys.executable).parent


def _url_path(url: str, fallback: str) -> str:
    path = urlsplit(url.replace("{token}", "TOKEN")).path
    return path or fallback


def _token_prefix(template: str, fallback: str) -> str:
    """The path of a link up to its ``{token}`` (``/jeudi/unsubscribe/``)."""
    path = urlsplit(template.replace("{token}", "\x00")).path
    if "\x00" in path:
        return path.split("\x00", 1)[0] or fallback
    return path or fallback


def _configured_provider_envs(config: Config) -> tuple[str, ...]:
    """The secret variables of the configured provider: its ``*_env`` options, else the
    defaults of its options model."""
    from newsletter.deliver.providers import provider_class

    names: dict[str, None] = {}
    try:
        model = provider_class(config.delivery.provider).options_model
    except NewsletterError:
        model = None
    if model is not None:
        for name, info in model.model_fields.items():
            if name.endswith("_env") and isinstance(info.default, str):
                names[str(config.delivery.options.get(name, info.default))] = None
    for key, value in config.delivery.options.items():
        if key.endswith("_env") and isinstance(value, str):
            names[value] = None
    return tuple(names)


def _env_values(data: object) -> Iterator[str]:
    """Every value of a ``*_env`` key, at any depth of the config's data."""
    if isinstance(data, dict):
        for key, value in data.items():
            if str(key).endswith("_env") and isinstance(value, str):
                yield value
            else:
                yield from _env_values(value)
    elif isinstance(data, list):
        for value in data:
            yield from _env_values(value)


def settings_for(directory: Path, *, bin_dir: Path | None = None) -> DeploySettings:
    """The settings of the project in ``directory``, read from its ``schedule.yaml`` (the
    defaults of the sample when it cannot be read); ``bin_dir`` defaults to the running venv's."""
    project = directory.resolve()
    config_file = project / DEFAULT_CONFIG
    command_dir = bin_dir if bin_dir is not None else running_venv_bin()
    try:
        config = load_config(config_file)
    except (NewsletterError, OSError):
        try:
            text = config_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        named = (m.group(2) for m in _ENV_KEY.finditer(text))
        return DeploySettings(
            project=project,
            config_file=config_file,
            bin_dir=command_dir,
            state=project / ".newsletter",
            bulletins=project / "bulletins",
            build=project / "build",
            archive=project / "archive",
            other_envs=tuple(
                dict.fromkeys(n for n in named if n not in ("NEWSLETTER_SECRET", DATABASE_URL_ENV))
            ),
        )
    settings = config.newsletter
    secret_env = settings.secret_env
    provider_envs = _configured_provider_envs(config)
    known = {secret_env, DATABASE_URL_ENV, *provider_envs}
    configured = _env_values(config.model_dump())
    others = tuple(dict.fromkeys(name for name in configured if name not in known))
    web_path = _url_path(settings.web_url, "/")
    return DeploySettings(
        project=project,
        config_file=config_file,
        bin_dir=command_dir,
        state=config.state_dir.resolve(),
        bulletins=config.bulletins_dir.resolve(),
        build=config.build_dir.resolve(),
        archive=config.archive_dir.resolve(),
        server_name=urlsplit(settings.unsubscribe_url_template).hostname or "example.org",
        web_path=web_path if web_path.endswith("/") else web_path + "/",
        unsubscribe_path=_token_prefix(settings.unsubscribe_url_template, "/unsubscribe/"),
        confirm_path=_token_prefix(config.confirm_url_template, "/confirm/"),
        secret_env=secret_env,
        provider=config.delivery.provider,
        provider_envs=provider_envs,
        other_envs=others,
    )


def _provider_keys(settings: DeploySettings) -> str:
    from newsletter.deliver.providers import BUILTIN_PROVIDERS, provider_class

    lines = [f"{name}=" for name in settings.provider_envs]
    for name in sorted(BUILTIN_PROVIDERS):
        if name == settings.provider:
            continue
        model = provider_class(name).options_model
        defaults = [
            str(info.default)
            for key, info in model.model_fields.items()
            if key.endswith("_env") and isinstance(info.default, str)
        ]
        missing = [env for env in defaults if env not in settings.provider_envs]
        if missing:
            lines += [f"# {name}:", *(f"#{env}=" for env in missing)]
    return "\n".join(lines) + "\n" if lines else ""


def _fill(template: str, values: dict[str, str]) -> str:
    def slot(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _SLOT.sub(slot, template)


def render_deploy_files(settings: DeploySettings) -> dict[str, str]:
    """Each deployment file's name and text, filled in for ``settings``."""
    smtp = [name for name in settings.other_envs if "SMTP" in name.upper()]
    others = [name for name in settings.other_envs if name not in smtp]
    confirm = ""
    if not settings.confirm_path.startswith(("/confirm/", settings.unsubscribe_path)):
        confirm = f"    location {settings.confirm_path} {{\n"
        confirm += "        proxy_pass http://newsletter_serve;\n" + _PROXY_HEADERS
        confirm += "        access_log off;\n    }\n"
    values = {
        "PROJECT": str(settings.project),
        "CONFIG": str(settings.config_file),
        "UNIT_DIR": str(settings.project / "deploy"),
        "BIN": str(settings.command_dir),
        "STATE": str(settings.state),
        "BULLETINS": str(settings.bulletins),
        "BUILD": str(settings.build),
        "ARCHIVE": str(settings.archive),
        "USER": settings.user,
        "GROUP": settings.group,
        "SERVE_PORT": str(settings.serve_port),
        "DESK_PORT": str(settings.desk_port),
        "PROTECT_HOME": "read-only" if settings.under_home else "yes",
        "SERVER_NAME": settings.server_name,
        "DESK_SERVER_NAME": settings.desk_server_name,
        "WEB_PATH": settings.web_path,
        "UNSUBSCRIBE_PATH": settings.unsubscribe_path,
        "CONFIRM_LOCATION": confirm,
        "PROXY": _PROXY_HEADERS,
        "SECRET_ENV": settings.secret_env,
        "PROVIDER_KEYS": _provider_keys(settings),
        "SMTP": "".join(f"{name}=\n" for name in smtp) or "#SMTP_USERNAME=\n#SMTP_PASSWORD=\n",
        "OTHER": "".join(f"{name}=\n" for name in others) or "# (none)\n",
    }
    hardening = _fill((FILES / "hardening.conf").read_text(encoding="utf-8"), values)
    if settings.under_home:
        hardening = hardening.replace(
            "ProtectHome=read-only",
            "# The project or the venv is under /home: read-only, not hidden.\n"
            "ProtectHome=read-only",
        )
    if settings.bin_dir is None:
        hardening = (
            f"# ExecStart: {PLACEHOLDER_BIN} is a placeholder (init ran outside a virtual "
            "environment): put the folder of the installed 'newsletter' command there.\n"
            + hardening
        )
    values["HARDENING"] = hardening.rstrip("\n")
    # systemd expands %-specifiers in most settings: a '%' of a path is written '%%' there.
    unit_values = {key: value.replace("%", "%%") for key, value in values.items()}
    unit_values["HARDENING"] = values["HARDENING"]
    return {
        name: _fill(
            (FILES / name).read_text(encoding="utf-8"), unit_values if name in UNITS else values
        )
        for name in DEPLOY_FILES
    }


def write_deploy_files(
    directory: Path, *, bin_dir: Path | None = None
) -> tuple[list[Path], list[Path]]:
    """Write ``directory/deploy/`` for the project in ``directory``; an existing file is never
    overwritten. Returns (created, kept) paths."""
    texts = render_deploy_files(settings_for(directory, bin_dir=bin_dir))
    target = directory / "deploy"
    target.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    kept: list[Path] = []
    for name, text in texts.items():
        path = target / name
        if path.exists():
            kept.append(path)
            continue
        path.write_text(text, encoding="utf-8")
        created.append(path)
    return created, kept
