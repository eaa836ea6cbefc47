"""The desk's routes for links and images (documented in docs/desk.md and docs/editor-guide.md).

- ``POST /api/issues/{date}/items`` with ``{"url": "https://..."}`` (and optionally
  ``"section"``): the page is read (``collect.page_meta``: the collector's limits, public
  addresses only) *before* the issue's lock is taken, then a new editor item file is written
  with its title, summary, link and image, behind ``If-Match`` like every write. A whole item
  (``title``, ``url``, ``section`` ...) is handed to the JSON API's own handler unchanged.
- ``POST /api/issues/{date}/link``, ``{"url": ...}``: what the page proposes (``title``,
  ``summary``, ``url``, ``image``, ``image_alt``, ``site_name``, ``section``), nothing written:
  for a form the editor corrects before saving it as a whole item.
- ``POST /api/issues/{date}/images``, multipart: ``file`` (the image), ``alt`` (required) and
  optionally ``item`` (an item id: its ``image`` and ``image_alt`` are set): the image is
  stored by ``issue.images.store_image`` in ``bulletins/DATE/images/``, behind ``If-Match``.
  Answers the issue JSON with ``"image": {"path", "alt", "variants", "width", "height"}``.
- ``GET /{date}/images/{name}``: an image of the issue folder, so the preview's email (its
  image URLs made local with ``render.views.local_images``) shows it before it is published.

Mount them before the JSON API: ``DeskServer(config_file, context=context,
extra_routes=media_routes(context))`` (or ``create_app(context, extra_routes=...)``).
Loopback links are refused unless ``NEWSLETTER_DESK_ALLOW_LOOPBACK_LINKS=1`` (for tests only).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date
from http import HTTPStatus
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from newsletter.collect.fetch import FetchOptions
from newsletter.collect.page_meta import (
    ALLOW_LOOPBACK_ENV,
    PageMeta,
    PageMetaError,
    fetch_page_meta,
    fetch_page_meta_sync,
)
from newsletter.config import Config
from newsletter.desk.api import ApiError, DeskApi, _body, _day, _json
from newsletter.desk.context import DeskConfigError, DeskContext
from newsletter.i18n import _
from newsletter.issue import edits
from newsletter.issue.images import IMAGE_SUFFIXES, MAX_IMAGE_BYTES, StoredImage, store_image
from newsletter.paths import issue_dir
from newsletter.render.views import IMAGES_DIR

__all__ = [
    "allow_loopback_links",
    "item_fields",
    "item_from_link",
    "media_routes",
    "page_options",
]

#: Room for the multipart envelope and the alt text around the image itself.
_FORM_OVERHEAD = 64 * 1024
_IMAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
_LINK_KEYS = frozenset({"url", "section"})


def allow_loopback_links() -> bool:
    """Whether the desk may read pages on this computer (``NEWSLETTER_DESK_ALLOW_LOOPBACK_LINKS=1``,
    for tests only)."""
    return os.environ.get(ALLOW_LOOPBACK_ENV, "").strip() == "1"


def page_options(config: Config) -> FetchOptions:
    """The collector's limits, with the project's summary length."""
    return FetchOptions(
        summary_words=config.collect.summary_words, summary_chars=config.collect.summary_chars
    )


def item_fields(config: Config, meta: PageMeta, section: str | None = None) -> dict[str, str]:
    """The fields of a new editor item (``edits.add_editor_item``) from what a page says:
    in ``section``, else the first section of schedule.yaml."""
    sections = [s.id for s in config.section_list]
    fields = {
        "title": meta.title or meta.site_name or meta.link,
        "url": meta.link,
        "section": section or (sections[0] if sections else ""),
    }
    if meta.summary:
        fields["summary"] = meta.summary_markdown
    if meta.image:
        fields["image"] = meta.image
        if meta.image_alt:
            fields["image_alt"] = meta.image_alt
    return fields


def _link_error(exc: PageMetaError) -> ApiError:
    return ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "link", str(exc), field="url")


def item_from_link(config: Config, url: str) -> dict[str, str]:
    """The new item's fields from the page at ``url`` (sync: for the JSON API's hook, run in
    a worker thread); ApiError 422 with the reason (in the editors' language) when the page
    cannot be read."""
    try:
        meta = fetch_page_meta_sync(
            url, page_options(config), allow_loopback=allow_loopback_links()
        )
    except PageMetaError as exc:
        raise _link_error(exc) from exc
    return item_fields(config, meta)


def _url_of(body: Mapping[str, Any]) -> str:
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ApiError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid",
            _("'url' must be the address of a page (https://...)."),
            field="url",
        )
    return url.strip()


def _section_of(config: Config, body: Mapping[str, Any]) -> str | None:
    section = body.get("section")
    if section is None or section == "":
        return None
    known = [s.id for s in config.section_list]
    if not isinstance(section, str) or section not in known:
        raise ApiError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid",
            _("unknown section '{section}' (schedule.yaml has: {known})").format(
                section=section, known=", ".join(known)
            ),
            field="section",
        )
    return section


def _image_json(stored: StoredImage) -> dict[str, Any]:
    return {
        "path": stored.path,
        "alt": stored.alt,
        "variants": {str(width): path for width, path in stored.variants.items()},
        "width": stored.width,
        "height": stored.height,
    }


class MediaApi(DeskApi):
    """The link and image routes, with the JSON API's plumbing (errors, If-Match, locks)."""

    def media_routes(self) -> list[BaseRoute]:
        base = "/api/issues/{day}"
        return [
            Route(base + "/items", self.post_item_or_link, methods=["POST"]),
            Route(base + "/link", self.post_link, methods=["POST"]),
            Route(base + "/images", self.post_image, methods=["POST"]),
            Route(
                "/{year:int}-{month:int}-{dom:int}/images/{name}",
                self.get_image,
                methods=["GET", "HEAD"],
            ),
        ]

    async def _meta(self, day: date, body: Mapping[str, Any]) -> tuple[Config, dict[str, str]]:
        """The page read outside any lock (it may take the whole fetch deadline)."""
        config = self._config_for(day)
        section = _section_of(config, body)
        options = page_options(config)
        try:
            meta = await fetch_page_meta(
                _url_of(body), options, allow_loopback=allow_loopback_links()
            )
        except PageMetaError as exc:
            raise _link_error(exc) from exc
        return config, item_fields(config, meta, section)

    async def post_item_or_link(self, request: Request) -> Response:
        """``{"url": ...}`` (and ``section``): a new item from the page; anything else: the
        JSON API's whole-item handler."""
        try:
            body = await _body(request)
        except ApiError as exc:
            return exc.response()
        if "url" not in body or not set(body) <= _LINK_KEYS:
            return await self.post_item(request)  # the body is cached on the request
        try:
            day = _day(request)
            _config, fields = await self._meta(day, body)
        except ApiError as exc:
            return exc.response()

        def action(config: Config) -> Mapping[str, Any]:
            created = edits.add_editor_item(config, day, fields)
            return {"created": created, "proposed": fields}

        return await self._answer(lambda: self._write(request, day, action))

    async def post_link(self, request: Request) -> Response:
        """What the page at ``url`` proposes for a new item; nothing is written."""
        try:
            body = await _body(request)
            _config, fields = await self._meta(_day(request), body)
        except ApiError as exc:
            return exc.response()
        return _json({"proposed": fields})

    async def post_image(self, request: Request) -> Response:
        try:
            day = _day(request)
            upload = await self._upload(request)
        except ApiError as exc:
            return exc.response()
        data, filename, alt, item = upload

        def action(config: Config) -> Mapping[str, Any]:
            stored = store_image(config, day, data, filename, alt)
            if item:
                edits.update_item(
                    config, day, item, {"image": stored.path, "image_alt": stored.alt}
                )
            return {"image": _image_json(stored)}

        return await self._answer(lambda: self._write(request, day, action))

    async def _upload(self, request: Request) -> tuple[bytes, str, str, str]:
        """The image's bytes, its file name, the alt text and the item id of the form."""
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():  # a streamed body of unknown size is not spooled to disk
            raise ApiError(
                HTTPStatus.LENGTH_REQUIRED,
                "length_required",
                _("Send the image with its size (Content-Length header)."),
                field="file",
            )
        if int(declared) > MAX_IMAGE_BYTES + _FORM_OVERHEAD:
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "too_large",
                _("Image too large: the maximum is {size} MB.").format(
                    size=MAX_IMAGE_BYTES // 1_048_576
                ),
                field="file",
            )
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "invalid",
                _("Send the image in a multipart/form-data form (field 'file')."),
                field="file",
            )
        try:
            form = await request.form(max_files=1, max_fields=8)
        except Exception as exc:  # Starlette raises its own errors for a malformed form
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "invalid",
                _("Unreadable form: {error}").format(error=exc),
                field="file",
            ) from exc
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    "invalid",
                    _("No image received: attach the file in the field 'file'."),
                    field="file",
                )
            data = await upload.read(MAX_IMAGE_BYTES + 1)
            filename = upload.filename or "image"
        finally:
            await form.close()
        alt, item = form.get("alt", ""), form.get("item", "")
        return (
            data,
            filename,
            alt if isinstance(alt, str) else "",
            item.strip() if isinstance(item, str) else "",
        )

    async def get_image(self, request: Request) -> Response:
        """An image of the issue folder's ``images/`` (names as ``store_image`` writes them)."""
        missing = Response("Image introuvable.\n", HTTPStatus.NOT_FOUND, media_type="text/plain")
        params = request.path_params
        try:
            day = date(int(params["year"]), int(params["month"]), int(params["dom"]))
            config = self.context.config()
        except (ValueError, DeskConfigError):
            return missing
        name = str(request.path_params.get("name", ""))
        folder = issue_dir(config, day) / IMAGES_DIR
        path = folder / name
        if (
            not _IMAGE_NAME.fullmatch(name)
            or path.suffix.lower() not in IMAGE_SUFFIXES
            or not path.is_file()
            or not path.resolve().is_relative_to(issue_dir(config, day).resolve() / IMAGES_DIR)
        ):
            return missing
        return FileResponse(
            path, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        )


def media_routes(context: DeskContext) -> list[BaseRoute]:
    """The link and image routes over ``context``, to mount before the JSON API's."""
    return MediaApi(context).media_routes()
