"""delivery.provider and delivery.options are checked when schedule.yaml is loaded, by every
command, against the chosen provider's options model; plug-in providers can be chosen by name."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from newsletter.config import load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.providers import (
    Batch,
    Provider,
    ProviderContext,
    RecipientResult,
    Status,
    create_provider,
    provider_names,
    register_provider,
)
from newsletter.deliver.providers.options import ProviderOptions
from newsletter.deliver.service import execute_send, prepare_send
from newsletter.deliver.settings import check_delivery
from newsletter.errors import ConfigError

from .conftest import ISSUE, rendered_email, write_config


def newsletter(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def with_options(project: Path, provider: str, lines: str) -> tuple[Path, str]:
    """schedule.yaml with ``delivery.provider`` and block-style ``delivery.options``."""
    path = write_config(project, provider=provider)
    text = path.read_text(encoding="utf-8").replace("  options: {}\n", "  options:\n" + lines)
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("command", [["check", "2026-12-03"], ["schedule", "list"]])
def test_a_misspelt_option_fails_every_command_at_its_line(
    project: Path, command: list[str]
) -> None:
    config, text = with_options(project, "smtp", "    host: localhost\n    batch_sise: 50\n")
    result = newsletter(config, *command)
    assert result.returncode == 1, result.stdout
    line = line_of(text, "batch_sise")
    assert (
        f"{config}:{line}: delivery.options.batch_sise: unknown option for provider 'smtp'; "
        "did you mean 'batch_size'? known options: " in result.stderr
    ), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["check", "2026-12-03"], ["schedule", "list"]])
def test_an_option_of_the_wrong_type_fails_at_its_line(project: Path, command: list[str]) -> None:
    config, text = with_options(project, "outbox", "    rate: 10\n    batch_size: many\n")
    result = newsletter(config, *command)
    assert result.returncode == 1, result.stdout
    line = line_of(text, "batch_size: many")
    assert (
        f"{config}:{line}: delivery.options.batch_size: expected a number above 0 (got 'many')"
        in result.stderr
    ), result.stderr


def test_an_unknown_provider_is_named_with_a_hint(project: Path) -> None:
    config = write_config(project, provider="brevoo")
    line = line_of(config.read_text(encoding="utf-8"), "provider: brevoo")
    result = newsletter(config, "schedule", "list")
    assert result.returncode == 1
    assert (
        f"{config}:{line}: delivery.provider: 'brevoo' is not a provider; did you mean 'brevo'? "
        "available: brevo, " in result.stderr
    ), result.stderr


def test_every_problem_is_reported_and_secrets_are_not_needed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_TEST_UNSET_KEY", raising=False)
    write_config(
        project,
        provider="sendgrid",
        options={"api_key_env": "NEWSLETTER_TEST_UNSET_KEY", "timeout": 0, "regoin": "eu"},
    )
    with pytest.raises(ConfigError) as caught:
        check_delivery(load_config(project / "schedule.yaml"))
    problems = sorted(p.message for p in caught.value.problems)
    assert [p.split(":")[0] for p in problems] == [
        "delivery.options.regoin",
        "delivery.options.timeout",
    ]
    assert all(p.location and p.location.line for p in caught.value.problems)
    write_config(project, provider="sendgrid", options={"api_key_env": "NEWSLETTER_TEST_UNSET_KEY"})
    check_delivery(load_config(project / "schedule.yaml"))  # the variable is read when sending


# -- plug-in providers ----------------------------------------------------------------------


class PigeonOptions(ProviderOptions):
    loft: str = "Lyon"


class PigeonProvider(Provider):
    """A provider from outside the package: remembers who it sent to."""

    name: ClassVar[str] = "pigeon-post"
    options_model: ClassVar[type[ProviderOptions]] = PigeonOptions
    sent: ClassVar[list[str]] = []

    def __init__(self, loft: str) -> None:
        self.loft = loft

    @classmethod
    def from_context(cls, context: ProviderContext) -> PigeonProvider:
        return cls(context.settings(PigeonOptions, cls.name).loft)

    async def send_batch(self, batch: Batch) -> list[RecipientResult]:
        self.sent.extend(f"{self.loft}:{item.recipient.email}" for item in batch.items)
        return [RecipientResult(item.idx, Status.SENT) for item in batch.items]


def test_a_provider_registered_at_runtime_is_chosen_by_name(project: Path) -> None:
    register_provider(PigeonProvider)
    assert "pigeon-post" in provider_names()
    write_config(project, provider="pigeon-post", options={"loft": "Nantes", "lofts": 2})
    with pytest.raises(ConfigError, match="did you mean 'loft'"):
        check_delivery(load_config(project / "schedule.yaml"))
    write_config(project, provider="pigeon-post", options={"loft": "Nantes", "batch_size": 10})
    config = load_config(project / "schedule.yaml")
    check_delivery(config)
    provider = create_provider(config, secret=b"k")
    assert isinstance(provider, PigeonProvider) and provider.loft == "Nantes"
    with open_ledger(config) as ledger:
        plan = prepare_send(ledger, config, rendered_email(), ISSUE)
        report = asyncio.run(execute_send(ledger, config, plan.send, secret=b"k"))
    assert report.counts.get("sent") == 25, report.counts
    assert sorted(PigeonProvider.sent) == sorted(f"Nantes:abonne{n}@example.org" for n in range(25))


PLUGIN = """
from typing import ClassVar

from newsletter.deliver.providers import Provider, RecipientResult, Status
from newsletter.deliver.providers.options import ProviderOptions


class CarrierOptions(ProviderOptions):
    speed: int = 1


class CarrierProvider(Provider):
    name: ClassVar[str] = "carrier"
    options_model = CarrierOptions

    @classmethod
    def from_context(cls, context):
        context.settings(CarrierOptions, cls.name)
        return cls()

    async def send_batch(self, batch):
        return [RecipientResult(item.idx, Status.SENT) for item in batch.items]
"""


def install_plugin(folder: Path) -> Path:
    """A distribution in ``folder`` whose entry point adds the provider ``carrier``."""
    (folder / "carrier_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = folder / "carrier_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: carrier-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[newsletter.providers]\ncarrier = carrier_plugin:CarrierProvider\n", encoding="utf-8"
    )
    return folder


def test_a_plugin_provider_comes_from_its_entry_point(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = install_plugin(tmp_path_factory.mktemp("plugins"))
    monkeypatch.syspath_prepend(str(plugins))
    assert "carrier" in provider_names()
    write_config(project, provider="carrier", options={"speed": "3", "batch_size": 5})
    config = load_config(project / "schedule.yaml")
    check_delivery(config)
    assert type(create_provider(config, secret=b"k")).__name__ == "CarrierProvider"
    env: dict[str, Any] = {"PYTHONPATH": os.pathsep.join([str(plugins), *sys.path])}
    assert newsletter(project / "schedule.yaml", "schedule", "list", **env).returncode == 0
    write_config(project, provider="carrier", options={"sped": 3})
    result = newsletter(project / "schedule.yaml", "schedule", "list", **env)
    assert result.returncode == 1
    assert "delivery.options.sped: unknown option for provider 'carrier'" in result.stderr


def test_the_notify_block_is_checked_at_load_too(project: Path) -> None:
    config = write_config(project)
    text = config.read_text(encoding="utf-8") + (
        "notify:\n  provider: smtp\n  options:\n    host: localhost\n    prot: 2525\n"
    )
    config.write_text(text, encoding="utf-8")
    result = newsletter(config, "schedule", "list")
    assert result.returncode == 1, result.stdout
    line = line_of(text, "prot:")
    assert (
        f"{config}:{line}: notify.options.prot: unknown option for provider 'smtp'; "
        "did you mean 'port'?" in result.stderr
    ), result.stderr
    config.write_text(text.replace("provider: smtp\n  options", "provider: smpt\n  options"))
    result = newsletter(config, "schedule", "list")
    assert "notify.provider: 'smpt' is not a provider; did you mean 'smtp'?" in result.stderr
