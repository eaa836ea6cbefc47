"""The browser preview: each issue at desktop and mobile widths, reloaded on every edit.

``PreviewServer`` serves ``PreviewApp`` (issue list, renders cached by file fingerprints) as a
Starlette app served by uvicorn; ``newsletter preview`` runs it until stopped.
"""

from __future__ import annotations

from newsletter.preview.app import IssueSummary, IssueView, PreviewApp
from newsletter.preview.server import PreviewError, PreviewServer
from newsletter.preview.watch import fingerprint

__all__ = [
    "IssueSummary",
    "IssueView",
    "PreviewApp",
    "PreviewError",
    "PreviewServer",
    "fingerprint",
]
