"""The delivery part of schedule.yaml, checked when it is loaded: the provider's name against
the registry and ``delivery.options`` against that provider's options model.

``newsletter.config`` stays below the delivery package and knows no provider; the faces call
``check_delivery`` right after loading the config. Secrets are not read here (a machine may
load the config without them): building the provider reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from newsletter.config import Config
from newsletter.deliver.providers import UnknownProvider, provider_class, unknown_provider
from newsletter.deliver.providers.options import parse_options
from newsletter.errors import ConfigError


def check_delivery(config: Config) -> None:
    """ConfigError with every problem of ``delivery`` (and ``notify``, when set): an unknown
    provider, an unknown option, a value of the wrong type, each at its line."""
    _check(config, "delivery", config.delivery.provider, config.delivery.options)
    if config.notify is not None:
        _check(config, "notify", config.notify.provider, config.notify.options)


def _check(config: Config, section: str, name: str, options: Mapping[str, Any]) -> None:
    why = unknown_provider(name)
    if why is not None:
        raise ConfigError(config.problem(f"{section}.provider", why))
    try:
        cls = provider_class(name)
    except UnknownProvider as exc:
        raise ConfigError(config.problem(f"{section}.provider", exc.problems[0].message)) from exc
    parse_options(cls.options_model, options, provider=name, config=config, section=section)
