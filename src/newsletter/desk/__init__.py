"""The editorial desk: the preview grown into a place where editors curate, write, check,
test and approve an issue in the browser, writing the very files ``newsletter check`` reads.

``DeskServer`` serves ``create_app(DeskContext(...))``: the JSON API (``desk.api``), the desk's
pages and the preview's pages. See docs/desk.md.
"""

from __future__ import annotations

from newsletter.desk.app import DeskError, DeskServer, create_app
from newsletter.desk.context import DeskConfigError, DeskContext

__all__ = ["DeskConfigError", "DeskContext", "DeskError", "DeskServer", "create_app"]
