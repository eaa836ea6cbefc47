"""YAML as editors write it: dates stay text until we check them, and nothing in a value can
make the loader raise anything but a YAMLError.

ruamel.yaml turns ``2026-02-30`` into a date while loading and raises a bare ValueError with no
line when the day does not exist; read as text, the value reaches the code that checks it and
names its line.
"""

from __future__ import annotations

import warnings
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import ReusedAnchorWarning, YAMLError
from ruamel.yaml.resolver import VersionedResolver

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class DatesAsTextResolver(VersionedResolver):
    """The usual resolver, less the implicit timestamps: ``date: 2026-12-03`` is a string."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if str(tag) == _TIMESTAMP and implicit and implicit[0]:
            return self.DEFAULT_SCALAR_TAG
        return tag


class ValueProblem(YAMLError):
    """A value the loader could not build (an explicit ``!!timestamp``, ``!!int abc`` ...)."""


def editor_yaml(typ: str = "rt", *, pure: bool = False) -> YAML:
    """A YAML loader for editors' files: dates as text (see the module docstring)."""
    yaml = YAML(typ=typ, pure=pure)
    yaml.Resolver = DatesAsTextResolver
    return yaml


def load_text(yaml: YAML, text: str) -> Any:
    """``yaml.load(text)``, where any failure to build a value is a YAMLError."""
    try:
        with warnings.catch_warnings():
            # A reused anchor ('&a' twice) is legal YAML, read as the last one: no noise.
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return yaml.load(text)
    except YAMLError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, AttributeError) as exc:
        raise ValueProblem(f"a value could not be read: {exc}") from exc
