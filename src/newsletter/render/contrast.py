"""Contrast of the theme's colours (WCAG): body text must keep at least 4.5:1."""

from __future__ import annotations

import re

from newsletter.config import Config
from newsletter.errors import Location
from newsletter.i18n import N_, _
from newsletter.paths import display_path
from newsletter.render.findings import Finding, Level

MIN_CONTRAST = 4.5
_HEX = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


#: The grey of secondary text (territory, dates, footer) in the default templates.
MUTED_COLOR = "#4b5a5f"


def check_theme(config: Config) -> list[Finding]:
    """Body text contrast of at least 4.5:1 (WCAG AA) with the theme's colours."""
    theme = config.theme
    pairs = (
        ("text_color", theme.text_color, "#ffffff", N_("body text on the white cards"), "darker"),
        (
            "primary_color",
            theme.primary_color,
            "#ffffff",
            N_("white text on the header and buttons, and links on white"),
            "darker",
        ),
        (
            "background_color",
            theme.background_color,
            MUTED_COLOR,
            N_("the footer's grey text ({colour}) on it"),
            "lighter",
        ),
    )
    found: list[Finding] = []
    for key, colour, against, what, better in pairs:
        ratio = contrast_ratio(colour, against)
        if ratio is None:
            found.append(
                Finding(
                    Level.WARNING,
                    _config_where(config, key),
                    _(
                        "theme.{key} {colour} is not a #rrggbb colour: its contrast cannot be "
                        "checked (write it as #rrggbb)"
                    ).format(key=key, colour=repr(colour)),
                )
            )
        elif ratio < MIN_CONTRAST:
            found.append(
                Finding(
                    Level.WARNING,
                    _config_where(config, key),
                    _below(better).format(
                        key=key,
                        colour=colour,
                        what=_(what).format(colour=MUTED_COLOR),
                        ratio=f"{ratio:.1f}",
                        minimum=MIN_CONTRAST,
                    ),
                )
            )
    return found


def _below(better: str) -> str:
    """The message for a contrast too low, by the way out (a darker or a lighter colour)."""
    if better == "darker":
        return _(
            "theme.{key} {colour}: contrast of {what} is {ratio}:1, below {minimum}:1 "
            "(choose a darker colour)"
        )
    return _(
        "theme.{key} {colour}: contrast of {what} is {ratio}:1, below {minimum}:1 "
        "(choose a lighter colour)"
    )


def _config_where(config: Config, key: str) -> Location:
    """schedule.yaml and the line of a theme key (default colours have no line)."""
    if config.file is None:
        return Location("schedule.yaml")
    found = config.location(f"theme.{key}", exact=True)
    return Location(display_path(config, config.file), found.line if found else None)


def contrast_ratio(first: str, second: str) -> float | None:
    """WCAG contrast ratio of two #rgb / #rrggbb colours, or None if one is not hex."""
    a, b = _luminance(first), _luminance(second)
    if a is None or b is None:
        return None
    high, low = max(a, b), min(a, b)
    return (high + 0.05) / (low + 0.05)


def _luminance(colour: str) -> float | None:
    match = _HEX.match(colour.strip())
    if not match:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
