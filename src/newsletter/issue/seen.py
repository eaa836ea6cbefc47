"""What makes two items the same story: their key, or their normalized title.

Collect leaves these marks in a "seen" set for items already in an issue; the draft reads them
back from the entries editors kept.
"""

from __future__ import annotations

import re
import unicodedata

#: Titles shorter than this (once normalized) are too generic to mean "the same story".
MIN_TITLE_KEY = 12


def title_key(title: str) -> str:
    """A title reduced for comparison: no accents, no case, no punctuation."""
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", letters))


#: Marks a normalized title in a set of seen item keys.
TITLE_MARK = "title:"


def marks(key: object, title: object) -> set[str]:
    """What an item met before leaves in a 'seen' set: its key, and its normalized title
    when that is long enough to mean one story.
    """
    found = {str(key)} if key else set()
    if isinstance(title, str) and len(tk := title_key(title)) >= MIN_TITLE_KEY:
        found.add(TITLE_MARK + tk)
    return found
