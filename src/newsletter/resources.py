"""Where the files bundled with the package are: default templates, samples, sample config.

In a wheel they live in ``newsletter/_bundled/``; in a source checkout (and an editable
install) they are the repository's top-level ``templates/``, ``samples/`` and ``schedule.yaml``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The bundled file or folder ``name`` (``templates``, ``samples``, ``schedule.yaml``)."""
    packaged = _PACKAGE / "_bundled" / name
    if packaged.exists():
        return packaged
    checkout = _PACKAGE.parent.parent / name
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"bundled resource {name!r} is missing from this installation")


def default_templates_dir() -> Path:
    return bundled("templates")
