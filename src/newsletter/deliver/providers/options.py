"""What ``delivery.options`` may hold: one pydantic model per provider, checked when loaded.

``ProviderOptions`` holds the engine's options, which every provider accepts (batch_size,
max_in_flight, rate, max_attempts, backoff_base, backoff_max); ``HttpApiOptions`` adds those of
the HTTP API providers (base_url, api_key_env, timeout). A provider's own model extends one of
them, with ``extra="forbid"``, so a misspelt key is an error that names the key and its line.
Values are checked as before pydantic: numbers may be written as strings, a boolean is never a
number, and an empty value (``~``) means the default.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from newsletter.config import Config
from newsletter.errors import ConfigError, Problem

M = TypeVar("M", bound="ProviderOptions")


def _coerce(kind: Callable[[Any], Any], raw: Any) -> Any:
    """``raw`` as ``kind``, or None: a boolean is not a number, 2.5 is not a whole number."""
    try:
        if isinstance(raw, bool) and kind in (int, float):
            return None
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            return None
        return kind(raw)
    except (TypeError, ValueError):
        return None


def checked(
    kind: Callable[[Any], Any],
    expect: str,
    check: Callable[[Any], bool] = lambda _value: True,
) -> BeforeValidator:
    """A validator that converts a value to ``kind`` and checks it; the error says what is
    expected and what was written: ``expected a number above 0 (got 'deux')``."""

    def validate(raw: Any) -> Any:
        value = _coerce(kind, raw)
        if value is None or not check(value):
            raise PydanticCustomError(
                "option", "expected {expect} (got {raw})", {"expect": expect, "raw": repr(raw)}
            )
        return value

    return BeforeValidator(validate)


PositiveInt = Annotated[int, checked(int, "a number above 0", lambda v: v > 0)]
PositiveFloat = Annotated[float, checked(float, "a number above 0", lambda v: v > 0)]
Seconds = Annotated[float, checked(float, "seconds (> 0)", lambda v: v > 0)]
EnvName = Annotated[str, checked(str, "an environment variable name", bool)]
Text = Annotated[str, checked(str, "a text")]
_ORIGIN = re.compile(r"^https?://[^/\s]+")


class ProviderOptions(BaseModel):
    """The engine's options, accepted by every provider: how hard a send pushes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Recipients per request; None: the provider's documented maximum.
    batch_size: PositiveInt | None = None
    max_in_flight: PositiveInt = 4
    #: Messages per second; None for no limit.
    rate: PositiveFloat | None = None
    max_attempts: PositiveInt = 5
    backoff_base: PositiveFloat = 1.0
    backoff_max: PositiveFloat = 60.0

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        return data


#: The engine's option names.
ENGINE_OPTIONS = frozenset(ProviderOptions.model_fields)


class OpenOptions(ProviderOptions):
    """For a provider that declares no model of its own: the engine's options are checked,
    any other key is left to the provider."""

    model_config = ConfigDict(extra="allow", frozen=True)


class HttpApiOptions(ProviderOptions):
    """The options of every HTTP API provider; subclasses set the defaults of their service."""

    #: The API origin (http or https), without a trailing slash.
    base_url: str = "https://api.example.com"
    #: The environment variable that holds the API key.
    api_key_env: EnvName = "API_KEY"
    timeout: Seconds = 30.0

    #: The example of base_url named in its error message (the default, unless it has none).
    url_example: ClassVar[str] = ""

    @field_validator("base_url", mode="before")
    @classmethod
    def _origin(cls, raw: Any, info: ValidationInfo) -> str:
        value = str(raw) if isinstance(raw, str) else None
        if value is None or _ORIGIN.match(value) is None:
            example = cls.url_example or str(cls.model_fields["base_url"].default)
            raise PydanticCustomError(
                "option",
                "expected an http(s) URL such as {example} (got {raw})",
                {"example": example, "raw": repr(raw)},
            )
        return value.rstrip("/")


def parse_options(
    model: type[M],
    options: Mapping[str, Any],
    *,
    provider: str,
    config: Config | None = None,
    section: str = "delivery",
) -> M:
    """``options`` validated by ``model``; ConfigError with every problem otherwise, each one
    at its line of schedule.yaml (under ``section``.options) when ``config`` was read from a
    file."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = [_problem(error, model, provider, config, section) for error in exc.errors()]
        raise ConfigError(problems[0], problems) from None


def option_problem(
    config: Config | None, key: str, message: str, section: str = "delivery"
) -> Problem:
    """A problem about ``<section>.options.<key>``, located when the config has a file."""
    path = f"{section}.options.{key}"
    return config.problem(path, message) if config is not None else Problem(f"{path}: {message}")


def _problem(
    error: Any, model: type[ProviderOptions], provider: str, config: Config | None, section: str
) -> Problem:
    key = ".".join(str(part) for part in error["loc"]) or "(options)"
    if error["type"] == "extra_forbidden":
        known = sorted(model.model_fields)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        message = (
            f"unknown option for provider '{provider}'; {hint}known options: {', '.join(known)}"
        )
    elif error["type"] == "option":
        message = str(error["msg"])
    else:
        message = f"{error['msg']} (got {error.get('input')!r})"
    return option_problem(config, key, message, section)
