"""Translations of what editors read: gettext catalogs (Babel) in French and English.

Message ids are English; ``locale/fr`` translates them, ``locale/en`` is the identity. The language
is, in order: ``$NEWSLETTER_LANG`` (``fr`` or ``en``), the config's ``newsletter.language``, ``fr``.
Loading the config activates it (:func:`activate`); code then writes ``_("...")`` and gets the text
in the current language, ``_("'{key}' must be text").format(key=key)`` with named placeholders so a
translation may reorder them. A string needed before a language is known (a module constant) is
marked with :func:`N_` and translated where it is used: ``_(HEADER)``.

Other parts ship their own domain (the desk: ``translations("desk", localedir=...)``).
"""

from __future__ import annotations

import functools
import gettext as _gettext
import os
from contextvars import ContextVar
from pathlib import Path

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LANG_ENV",
    "LOCALEDIR",
    "N_",
    "_",
    "activate",
    "current_language",
    "deactivate",
    "gettext",
    "language",
    "ngettext",
    "translations",
]

#: The environment variable that overrides the config's language (tests set it to ``en``).
LANG_ENV = "NEWSLETTER_LANG"
#: The languages with a catalog; anything else falls back to the next choice.
LANGUAGES: tuple[str, ...] = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
#: The gettext domain of this package's messages.
DOMAIN = "newsletter"
#: Where the compiled catalogs ship: ``locale/<lang>/LC_MESSAGES/<domain>.mo`` in the package.
LOCALEDIR = Path(__file__).resolve().parent / "locale"

#: The language activated in this context (None: not activated, see :func:`current_language`).
_current: ContextVar[str | None] = ContextVar("newsletter_language", default=None)
#: The last language activated anywhere: what a context that never activated one uses (a
#: server's worker thread starts with an empty context but should speak the config's language).
_process_default: str | None = None


def _normalize(value: str | None) -> str | None:
    """'fr' for 'fr', 'FR', 'fr_FR.UTF-8' or 'fr-CA'; None when empty or without a catalog."""
    if not value:
        return None
    code = value.strip().replace("-", "_").split(".")[0].split("_")[0].lower()
    return code if code in LANGUAGES else None


def language(config_language: str | None = None) -> str:
    """The language to speak: ``$NEWSLETTER_LANG``, else ``config_language``, else ``fr``."""
    return _normalize(os.environ.get(LANG_ENV)) or _normalize(config_language) or DEFAULT_LANGUAGE


def activate(language: str) -> None:
    """Speak ``language`` ("fr" or "en") from now on, in this context and in fresh ones.

    An unknown language falls back to the default one, as :func:`language` does.
    """
    global _process_default
    chosen = _normalize(language) or DEFAULT_LANGUAGE
    _current.set(chosen)
    _process_default = chosen


def deactivate() -> None:
    """Forget any activated language: back to ``$NEWSLETTER_LANG``, else ``fr``."""
    global _process_default
    _current.set(None)
    _process_default = None


def current_language() -> str:
    """The activated language, else the environment's, else ``fr``."""
    return _current.get() or _process_default or language()


@functools.lru_cache(maxsize=32)
def _load(domain: str, lang: str, localedir: Path) -> _gettext.NullTranslations:
    return _gettext.translation(domain, localedir=str(localedir), languages=[lang], fallback=True)


def translations(
    domain: str = DOMAIN, language: str | None = None, localedir: Path | None = None
) -> _gettext.NullTranslations:
    """The compiled catalog of ``domain`` in ``language`` (default: the current one), cached.

    ``localedir`` defaults to this package's ``locale`` folder; a missing catalog gives
    ``NullTranslations`` (the English message ids).
    """
    lang = _normalize(language) or current_language()
    folder = LOCALEDIR if localedir is None else localedir.resolve()
    return _load(domain, lang, folder)


def gettext(message: str) -> str:
    """``message`` (an English msgid) in the current language."""
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the current language."""
    return translations().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet; translate with ``_()`` later."""
    return message


_ = gettext
