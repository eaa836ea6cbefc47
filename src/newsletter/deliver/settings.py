"""The delivery part of schedule.yaml, checked when it is loaded: the provider's name against
the registry and ``delivery.options`` against that provider's options model.

``newsletter.config`` stays below the delivery package and knows no provider; the faces call
``check_delivery`` right after loading the config. Secrets are not read here (a machine may
load the config without them): building the provider reads them.
"""

from __future__ import annotations

from newsletter.config import Config
from newsletter.deliver.providers import UnknownProvider, provider_class, unknown_provider
from newsletter.deliver.providers.options import parse_options
from newsletter.errors import ConfigError


def check_delivery(config: Config) -> None:
    """ConfigError with every problem of ``delivery.provider`` and ``delivery.options``, each
    at its line: an unknown provider, an unknown option, a value of the wrong type."""
    name = config.delivery.provider
    why = unknown_provider(name)
    if why is not None:
        raise ConfigError(config.problem("delivery.provider", why))
    try:
        cls = provider_class(name, config)
    except UnknownProvider as exc:
        raise ConfigError(exc.problems[0]) from exc
    parse_options(cls.options_model, config.delivery.options, provider=name, config=config)
