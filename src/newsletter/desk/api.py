"""The desk's JSON API (documented in docs/desk.md): read an issue, and write it with If-Match.

Reads: ``GET /api/issues``, ``GET /api/issues/{date}`` (with a strong ``ETag`` over the bytes
of the issue folder). Writes: ``PATCH /api/issues/{date}``, ``PATCH
/api/issues/{date}/items/{id}``, ``PUT /api/issues/{date}/order``, ``POST
/api/issues/{date}/items``, ``POST /api/issues/{date}/test``, ``POST
/api/issues/{date}/approve``. Every write needs ``If-Match`` with the current ETag (428
without, 412 with the current issue when stale) and answers the new issue and its ETag.
Errors are ``{"error": code, "message": text}`` (French, or the
language of the config, see ``newsletter.i18n``); the files are written by
``newsletter.issue.edits``, so ``newsletter check`` sees a write at once.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import date
from http import HTTPStatus
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from newsletter.config import Config
from newsletter.deliver.ledger import LEDGER_FILE, open_ledger
from newsletter.deliver.service import SendHooks, rendered_issue, send_issue
from newsletter.desk.context import DeskConfigError, DeskContext
from newsletter.errors import ContentError, Location, NewsletterError
from newsletter.frontmatter import read_front_matter
from newsletter.i18n import N_, _, ngettext
from newsletter.issue import edits
from newsletter.issue.curate import item_id
from newsletter.issue.draft import draft_path
from newsletter.issue.edits import EditError
from newsletter.issue.folder import IssueMeta, read_issue_meta
from newsletter.issue.listing import COLLECTED, EDITOR, DeskItem, desk_items, issue_etag
from newsletter.issue.listing import section_ids as issue_section_ids
from newsletter.issue.prepare import PreparedIssue
from newsletter.paths import display_path, issue_file
from newsletter.preview.app import issue_dates

log = logging.getLogger("newsletter.desk")

#: Translated where it is answered: ``_(STALE_MESSAGE)``.
STALE_MESSAGE = N_(
    "This issue changed since you opened it (in the desk or in a file): reload it to see "
    "the latest version, then make your change again. Nothing was saved."
)
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_MAX_BODY = 1_000_000
#: How many times a read is made again when a file changed while it was read.
_READ_TRIES = 5


class ApiError(Exception):
    """An answer other than success: HTTP status, code, translated message, extra fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        body = {"error": self.code, "message": self.message, **self.extra}
        return _json(body, self.status, headers)


def _json(
    body: Any, status: int = HTTPStatus.OK, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**_HEADERS, **(headers or {})})


# -- the issue as JSON ---------------------------------------------------------------------


def item_json(item: DeskItem) -> dict[str, Any]:
    """One item as the API shows it."""
    data = asdict(item)
    return {key: data[key] for key in _ITEM_KEYS}


_ITEM_KEYS = (
    "id",
    "title",
    "summary",
    "url",
    "image",
    "image_alt",
    "section",
    "include",
    "origin",
    "file",
    "line",
)


def _raw_meta(config: Config, issue_date: date) -> dict[str, Any]:
    """What issue.md says, read leniently, for an issue.md with mistakes."""
    path = issue_file(config, issue_date)
    try:
        doc = read_front_matter(path)
    except ContentError:
        return {}
    meta = {str(k): v for k, v in doc.meta.items()}
    meta["editorial"] = doc.body.strip()
    return meta


def _text(value: Any) -> str:
    return str(value).strip() if isinstance(value, str | int | float) else ""


class _FindingPlaces:
    """Which item a finding is about: its location's item key, else its file (an editor
    item), else its line in collected.yaml."""

    def __init__(
        self, config: Config, issue_date: date, items: list[DeskItem], prepared: PreparedIssue
    ) -> None:
        self.by_key: dict[str, str] = {}
        if prepared.issue is not None:
            self.by_key = {item.key: item_id(item) for item in prepared.issue.items}
        self.ids = {item.id for item in items}
        self.by_file = {item.file: item.id for item in items if item.origin == EDITOR}
        self.draft = display_path(config, draft_path(config, issue_date))
        entries = sorted(
            (item.line, item.id) for item in items if item.origin == COLLECTED and item.line
        )
        self.lines = [line for line, _ in entries]
        self.line_ids = [ident for _, ident in entries]

    def item(self, where: Location) -> str | None:
        if where.item:
            if where.item in self.by_key:
                return self.by_key[where.item]
            if where.item in self.ids:
                return where.item
        if where.file in self.by_file:
            return self.by_file[where.file]
        if where.file == self.draft and where.line is not None and self.lines:
            index = bisect.bisect_right(self.lines, where.line) - 1
            if index >= 0:
                return self.line_ids[index]
        return None


def findings_json(
    config: Config, issue_date: date, items: list[DeskItem], prepared: PreparedIssue
) -> list[dict[str, Any]]:
    """The findings of ``check`` with their level, file, line, message and item id."""
    places = _FindingPlaces(config, issue_date, items, prepared)
    return [
        {
            "level": finding.level.value,
            "file": finding.where.file,
            "line": finding.where.line,
            "message": finding.message,
            "item": places.item(finding.where),
            "label": finding.where.label,
        }
        for finding in prepared.findings
    ]


def issue_json(
    context: DeskContext, config: Config, issue_date: date
) -> tuple[dict[str, Any], str]:
    """The issue as ``GET /api/issues/{date}`` answers it, and its ETag (both of the same
    bytes: read again if a file changed meanwhile)."""
    data: dict[str, Any] = {}
    etag = ""
    for _attempt in range(_READ_TRIES):
        version = context.preview.version(issue_date)
        etag = issue_etag(config, issue_date)
        data = context.memo(
            ("issue-json", issue_date, version, etag),
            lambda: _issue_data(context, config, issue_date),
        )
        if issue_etag(config, issue_date) == etag:
            break
    return {**data, "sent_at": sent_at(config, issue_date), "etag": etag}, etag


def sent_at(config: Config, issue_date: date) -> str | None:
    """When the real send of the issue finished (ISO time), None when it was not sent (or
    the ledger cannot be read: the desk still shows the issue)."""
    if not (config.state_dir / LEDGER_FILE).is_file():
        return None  # never create the ledger just to look
    try:
        with open_ledger(config) as ledger:
            send = ledger.latest_send(issue_date, test=False)
    except NewsletterError:
        return None
    return send.finished_at if send is not None else None


def _issue_data(context: DeskContext, config: Config, issue_date: date) -> dict[str, Any]:
    meta: IssueMeta | None
    try:
        meta = read_issue_meta(config, issue_date)
    except ContentError:
        meta = None
    raw = _raw_meta(config, issue_date) if meta is None else {}
    items = desk_items(config, issue_date, meta)
    view = context.view(issue_date)
    prepared = view.prepared
    if prepared is not None:
        findings = findings_json(config, issue_date, items, prepared)
    else:
        findings = [
            {"level": "error", "file": "", "line": None, "message": e, "item": None, "label": ""}
            for e in view.errors
        ]
    titles = {s.id: s.title for s in config.sections}
    number: Any = meta.number if meta is not None else raw.get("number")
    return {
        "date": issue_date.isoformat(),
        "number": number if isinstance(number, int) and not isinstance(number, bool) else None,
        "subject": meta.subject if meta else _text(raw.get("subject")),
        "preheader": meta.preheader if meta else _text(raw.get("preheader")),
        "status": meta.status.value if meta else (_text(raw.get("status")) or "draft"),
        "theme": meta.theme if meta else _text(raw.get("theme")),
        "editorial": meta.editorial_md if meta else _text(raw.get("editorial")),
        "approved_by": meta.approved_by if meta else _text(raw.get("approved_by")),
        "approved_at": meta.approved_at if meta else _text(raw.get("approved_at")),
        "sections": [
            {"id": section_id, "title": titles.get(section_id, section_id)}
            for section_id in issue_section_ids(config, meta)
        ],
        "items": [item_json(item) for item in items],
        "findings": findings,
        "counts": {
            "items": len(items),
            "included": sum(1 for item in items if item.include),
            "errors": sum(1 for f in findings if f["level"] == "error"),
            "warnings": sum(1 for f in findings if f["level"] == "warning"),
        },
        "rendered": view.rendered,
    }


def issue_summary(context: DeskContext, config: Config, issue_date: date) -> dict[str, Any]:
    """One line of ``GET /api/issues``."""
    data, etag = issue_json(context, config, issue_date)
    keys = ["date", "number", "subject", "status", "approved_by", "approved_at", "sent_at"]
    keys.append("counts")
    return {**{key: data[key] for key in keys}, "etag": etag}


# -- routes --------------------------------------------------------------------------------


def _day(request: Request) -> date:
    text = str(request.path_params.get("day", ""))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(
            HTTPStatus.NOT_FOUND,
            "not_found",
            _("'{text}' is not an issue date (YYYY-MM-DD)").format(text=text),
        ) from None


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", _("Request too large."))
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            "invalid_json",
            _("The request body is not JSON: {error}").format(error=exc),
        ) from exc
    if not isinstance(data, dict):
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            "invalid_json",
            _("The request body must be a JSON object."),
        )
    return data


def _edit_error(exc: EditError) -> ApiError:
    if exc.code == "not_found":
        return ApiError(HTTPStatus.NOT_FOUND, "not_found", str(exc))
    extra = {"field": exc.field} if exc.field else {}
    return ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid", str(exc), **extra)


def _editor_name(request: Request) -> str:
    """Who approves: the editor the login set on ``request.state.editor``, else "desk"."""
    editor = getattr(request.state, "editor", None)
    if editor is None:
        return "desk"
    if isinstance(editor, str):
        return editor
    return str(getattr(editor, "email", None) or editor)


Action = Callable[[Config], Mapping[str, Any] | None]


class DeskApi:
    """The JSON routes over one DeskContext."""

    def __init__(self, context: DeskContext) -> None:
        self.context = context

    def routes(self) -> list[BaseRoute]:
        base = "/api/issues"
        return [
            Route(base, self.list_issues, methods=["GET", "HEAD"]),
            Route(base + "/{day}", self.get_issue, methods=["GET", "HEAD"]),
            Route(base + "/{day}", self.patch_issue, methods=["PATCH"]),
            Route(base + "/{day}/items/{item}", self.patch_item, methods=["PATCH"]),
            Route(base + "/{day}/order", self.put_order, methods=["PUT"]),
            Route(base + "/{day}/items", self.post_item, methods=["POST"]),
            Route(base + "/{day}/test", self.post_test, methods=["POST"]),
            Route(base + "/{day}/approve", self.post_approve, methods=["POST"]),
            Route(
                "/api/{rest:path}",
                self.unknown,
                methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]

    # -- plumbing ------------------------------------------------------------------------
    async def _answer(self, work: Callable[[], Response]) -> Response:
        try:
            return await run_in_threadpool(work)
        except ApiError as exc:
            return exc.response()
        except EditError as exc:
            return _edit_error(exc).response()
        except DeskConfigError as exc:
            problems = [str(p) for p in exc.problems]
            return ApiError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "config",
                "schedule.yaml ne se lit pas : " + "; ".join(problems),
                problems=problems,
            ).response()
        except NewsletterError as exc:
            return ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "refused",
                str(exc.problems[0]) if exc.problems else str(exc),
                problems=[str(p) for p in exc.problems],
            ).response()
        except Exception as exc:
            log.exception("desk API request failed")
            return ApiError(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal",
                _(
                    "Internal error of the desk: {error} (details in the terminal running "
                    "'newsletter desk')."
                ).format(error=type(exc).__name__),
            ).response()

    def _config_for(self, issue_date: date) -> Config:
        config = self.context.config()
        if not issue_file(config, issue_date).is_file():
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                "not_found",
                _("No issue of {date} (create it with 'newsletter new {date}').").format(
                    date=issue_date.isoformat()
                ),
            )
        return config

    def _issue_response(
        self, config: Config, issue_date: date, extra: Mapping[str, Any] | None = None
    ) -> Response:
        data, etag = issue_json(self.context, config, issue_date)
        if extra:
            data.update(extra)
        return _json(data, headers={"ETag": etag})

    def _write(self, request: Request, issue_date: date, action: Action) -> Response:
        """Check If-Match against the current ETag under the issue's lock, run ``action``,
        answer the new issue (with what ``action`` returned merged in)."""
        config = self._config_for(issue_date)
        if_match = request.headers.get("if-match")
        if not if_match:
            raise ApiError(
                HTTPStatus.PRECONDITION_REQUIRED,
                "if_match_required",
                _(
                    "Every change must send the If-Match header with the ETag of the issue "
                    "as you read it."
                ),
            )
        with self.context.issue_lock(issue_date):
            etag = issue_etag(config, issue_date)
            sent = [tag.strip() for tag in if_match.split(",")]
            if etag not in sent:
                current, etag = issue_json(self.context, config, issue_date)
                body = {"error": "stale", "message": _(STALE_MESSAGE), "issue": current}
                return _json(body, HTTPStatus.PRECONDITION_FAILED, {"ETag": etag})
            extra = action(config)
        return self._issue_response(config, issue_date, extra)

    # -- reads -----------------------------------------------------------------------------
    async def list_issues(self, request: Request) -> Response:
        def work() -> Response:
            config = self.context.config()
            folder = config.bulletins_dir
            days = issue_dates(folder) if folder.is_dir() else []
            issues = [issue_summary(self.context, config, day) for day in days]
            return _json({"issues": issues})

        return await self._answer(work)

    async def get_issue(self, request: Request) -> Response:
        def work() -> Response:
            day = _day(request)
            config = self._config_for(day)
            return self._issue_response(config, day)

        return await self._answer(work)

    async def unknown(self, request: Request) -> Response:
        return ApiError(
            HTTPStatus.NOT_FOUND, "not_found", f"Rien ici : {request.url.path}"
        ).response()

    # -- writes ----------------------------------------------------------------------------
    async def patch_issue(self, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            return exc.response()

        def action(config: Config) -> None:
            day = _day(request)
            values: dict[str, str] = {}
            for field, value in body.items():
                if field not in edits.ISSUE_FIELDS:
                    raise EditError(
                        _("unknown field '{field}' (possible fields: {fields})").format(
                            field=field, fields=", ".join(edits.ISSUE_FIELDS)
                        ),
                        field=field,
                    )
                if not isinstance(value, str):
                    raise EditError(_("'{field}' must be text").format(field=field), field=field)
                values[field] = value
            edits.update_issue(config, day, **values)

        return await self._answer(lambda: self._write(request, _day(request), action))

    async def patch_item(self, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            return exc.response()

        def action(config: Config) -> None:
            item = str(request.path_params["item"])
            edits.update_item(config, _day(request), item, body)

        return await self._answer(lambda: self._write(request, _day(request), action))

    async def put_order(self, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            return exc.response()

        def action(config: Config) -> None:
            sections = body.get("sections")
            unknown = [key for key in body if key != "sections"]
            if unknown:
                raise EditError(
                    _("unknown field '{field}'").format(field=unknown[0]), field=unknown[0]
                )
            if not isinstance(sections, dict) or not all(
                isinstance(ids, list) and all(isinstance(i, str) for i in ids)
                for ids in sections.values()
            ):
                raise EditError(
                    _("'sections' must map every section to the list of its item ids"),
                    field="sections",
                )
            edits.set_item_order(config, _day(request), sections)

        return await self._answer(lambda: self._write(request, _day(request), action))

    async def post_item(self, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            return exc.response()

        def action(config: Config) -> Mapping[str, Any]:
            # ``{"url": ...}`` alone is answered by desk.media_routes (mounted first), which
            # reads the page outside the issue's lock; here comes a whole item.
            fields: dict[str, Any] = dict(body)
            created = edits.add_editor_item(config, _day(request), fields)
            return {"created": created}

        return await self._answer(lambda: self._write(request, _day(request), action))

    async def post_test(self, request: Request) -> Response:
        def action(config: Config) -> Mapping[str, Any]:
            day = _day(request)
            report = asyncio.run(
                send_issue(
                    config,
                    day,
                    lambda: rendered_issue(config, day, need_approval=False),
                    test=True,
                    hooks=SendHooks(),
                    lock_wait=0,
                )
            )
            return {
                "test": {
                    "recipients": [str(r) for r in config.delivery.test_recipients],
                    "lines": report.lines(config.newsletter.tz),
                    "left": report.left,
                    "error": report.run.error or None,
                }
            }

        return await self._answer(lambda: self._write(request, _day(request), action))

    async def post_approve(self, request: Request) -> Response:
        editor = _editor_name(request)

        def action(config: Config) -> Mapping[str, Any]:
            day = _day(request)
            prepared = self.context.prepared(day)
            if prepared is None:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "check_failed",
                    _("The issue could not be checked: it cannot be approved."),
                    findings=[],
                )
            if prepared.errors:
                items = desk_items(config, day, _meta_or_none(config, day))
                found = findings_json(config, day, items, prepared)
                count = len(prepared.errors)
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "check_failed",
                    ngettext(
                        "The check found {count} error: fix it before approving the issue.",
                        "The check found {count} errors: fix them before approving the issue.",
                        count,
                    ).format(count=count),
                    findings=found,
                )
            edits.approve_issue(config, day, by=editor, at=self.context.now())
            return {}

        return await self._answer(lambda: self._write(request, _day(request), action))


def _meta_or_none(config: Config, issue_date: date) -> IssueMeta | None:
    try:
        return read_issue_meta(config, issue_date)
    except ContentError:
        return None


def api_routes(context: DeskContext) -> list[BaseRoute]:
    """The JSON API's routes, under ``/api/``."""
    return DeskApi(context).routes()
