"""The data browser, for reviewers and admins: the API (``/api/v1/projects/{id}/browse``)
and the page (``/p/{id}/items``).

Filters arrive as query parameters (the same on both, see :class:`BrowseQuery`); a bulk
action names the checked rows (``ids``) or applies to the whole filter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Literal, get_args
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from labelloop.core.records import UserRecord
from labelloop.errors import ValidationError
from labelloop.server.deps import Ctx, ProjectDep, Reviewer, ServerContext
from labelloop.server.policies import require
from labelloop.server.routes.pages import _page
from labelloop.server.schemas.api import ItemOut, ProjectOut
from labelloop.services.browse import (
    SORTS,
    STATES,
    Browse,
    BrowseEntry,
    BrowseFilter,
    BulkResult,
    Sort,
)
from labelloop.services.project import ProjectInfo

router = APIRouter(tags=["browse"])
pages = APIRouter(include_in_schema=False)
PAGE = 50
COUNT_CAP = 10_000
"""The page counts the matches up to this (then shows "10,000+"): a count walks the
matches, and at 1M items a selective filter's count to 100,000 took over a second."""
Action = Literal["accept", "set_split", "send_to_review", "delete"]
ACTIONS: tuple[str, ...] = get_args(Action)
FILTER_KEYS = ("search", "state", "label", "source", "annotator", "min_confidence",
               "max_confidence", "disagreement", "split", "meta", "has_comments")


@dataclass
class BrowseQuery:
    """The filter of a request as typed (empty values mean "any")."""

    search: str | None = None
    state: list[str] = field(default_factory=list)
    label: str | None = None
    source: str | None = None
    annotator: str | None = None
    min_confidence: str | None = None
    max_confidence: str | None = None
    disagreement: str | None = None
    split: str | None = None
    meta: str | None = None
    has_comments: str | None = None

    @classmethod
    def of_pairs(cls, pairs: Iterable[tuple[str, str]]) -> BrowseQuery:
        """The filter named by query-string pairs (other keys ignored)."""
        q = cls()
        for k, v in pairs:
            if k == "state":
                q.state.append(v)
            elif k in FILTER_KEYS:
                setattr(q, k, v)
        return q

    def pairs(self) -> list[tuple[str, str]]:
        """The non-empty values as query-string pairs."""
        out = [("state", s) for s in self.state if s]
        out += [(k, str(getattr(self, k))) for k in FILTER_KEYS
                if k != "state" and getattr(self, k)]
        return out

    def build(self, browse: Browse, ids: list[int] | None = None) -> BrowseFilter:
        """The filter, checked (ValidationError names the bad value)."""
        return browse.filter(
            ids=ids, search=self.search, states=[s for s in self.state if s],
            label=self.label or None, source=self.source or None,
            annotator=self.annotator or None,
            min_confidence=_number("min_confidence", self.min_confidence),
            max_confidence=_number("max_confidence", self.max_confidence),
            disagreement=_yes(self.disagreement),
            split=self.split or None, meta=self.meta or None,
            has_comments=_yes(self.has_comments))


def _yes(raw: str | None) -> bool:
    return (raw or "").lower() in ("1", "true", "on", "yes")


def _number(name: str, raw: str | None) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationError(f"{name}: expected a number between -1 and 1, got {raw!r}"
                              ) from None


class BrowseItemOut(BaseModel):
    """A row of the browser."""

    id: int
    external_id: str | None
    text: str | None
    image: str | None
    split: str
    state: str
    flags: int
    label: str | list[str] | None
    label_source: str | None
    confidence: float | None
    comments: int = 0

    @classmethod
    def of(cls, e: BrowseEntry) -> BrowseItemOut:
        """The row of an entry."""
        return cls(id=e.item.id or 0, external_id=e.item.external_id, text=e.item.text,
                   image=e.item.image, split=e.item.split, state=e.state, flags=e.flags,
                   label=e.label, label_source=e.label_source, confidence=e.confidence,
                   comments=e.comments)


class BrowsePageOut(BaseModel):
    """A page of the browser: rows, the cursor of the next page, the filter's count."""

    items: list[BrowseItemOut]
    next: str | None
    count: int | None = None


class BulkIn(BaseModel):
    """A bulk action on the rows ``ids``, or (without ids) on every item of ``filter``."""

    action: Action
    ids: list[int] | None = Field(default=None, description="the checked rows")
    filter: dict[str, str | list[str]] = Field(
        default_factory=dict, description=f"filter keys {FILTER_KEYS} (when no ids)")
    split: str | None = Field(default=None, description="the split of set_split")


class BulkOut(BaseModel):
    """How many items the action covered and how many it changed."""

    action: str
    matched: int
    changed: int


def _browse(ctx: ServerContext, project: ProjectInfo) -> Browse:
    return Browse(ctx.store, project)


def _check_sort(sort: str) -> Sort:
    if sort not in SORTS:
        raise ValidationError(f"sort: expected one of {SORTS}, got {sort!r}")
    return sort  # type: ignore[return-value]


def run_bulk(browse: Browse, user: UserRecord, action: str, f: BrowseFilter,
             split: str | None) -> BulkResult:
    """Apply one bulk action (the caller checked the reviewer role; ``delete`` needs an
    admin, checked here)."""
    if action == "accept":
        return browse.accept(user, f)
    if action == "set_split":
        if not split:
            raise ValidationError("set_split needs the split to set")
        return browse.set_split(f, split)
    if action == "send_to_review":
        return browse.send_to_review(user, f)
    if action == "delete":
        require(user, "manage")
        return browse.delete(f)
    raise ValidationError(f"unknown action {action!r}; expected one of {ACTIONS}")


@router.get("/projects/{project_id}/browse", response_model=BrowsePageOut)
def browse_items(project: ProjectDep, _: Reviewer, ctx: Ctx, request: Request,
                 response: Response, search: str | None = None,
                 state: Annotated[list[str] | None, Query(description=f"any of {STATES}")
                                  ] = None,
                 label: str | None = None, source: str | None = None,
                 annotator: str | None = None, min_confidence: str | None = None,
                 max_confidence: str | None = None, disagreement: str | None = None,
                 split: str | None = None, meta: str | None = None,
                 has_comments: str | None = None, sort: str = "id", desc: bool = False,
                 cursor: str | None = None, limit: int = PAGE, count: bool = False
                 ) -> BrowsePageOut:
    """Items matching a filter, a page at a time (reviewer, admin).

    Filters: ``search`` (words of the text), ``state``, ``label`` (final label),
    ``source``, ``annotator``, ``min_confidence``/``max_confidence``, ``disagreement``,
    ``split``, ``meta`` (``key=value``), ``has_comments``. ``sort``: id, priority,
    confidence or date (``desc`` for descending); page on with ``cursor`` = the ``next``
    of the previous page (also in the ``Link`` header). ``count``: also count the matches
    (to 100,000).
    """
    q = BrowseQuery(search, list(state or []), label, source, annotator, min_confidence,
                    max_confidence, disagreement, split, meta, has_comments)
    b = _browse(ctx, project)
    f = q.build(b)
    page = b.page(f, sort=_check_sort(sort), desc=desc, cursor=cursor, limit=limit)
    if page.next is not None:
        url = request.url.remove_query_params(["cursor"]).include_query_params(
            cursor=page.next)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return BrowsePageOut(items=[BrowseItemOut.of(e) for e in page.rows], next=page.next,
                         count=b.count(f) if count else None)


@router.post("/projects/{project_id}/browse/bulk", response_model=BulkOut)
def bulk(project: ProjectDep, body: BulkIn, user: Reviewer, ctx: Ctx) -> BulkOut:
    """Accept the suggestion (the label model's, else a model's answer, kept as your gold
    answer), set the split, send to review (the items wait in the review queue, reason
    ``requested``) or delete (admin only: the items and everything attached), on the
    checked rows or a whole filter (reviewer, admin)."""
    b = _browse(ctx, project)
    pairs = [(k, x) for k, v in body.filter.items()
             for x in (v if isinstance(v, list) else [v])]
    f = BrowseQuery.of_pairs(pairs).build(b, ids=body.ids)
    res = run_bulk(b, user, body.action, f, body.split)
    return BulkOut(action=body.action, matched=res.matched, changed=res.changed)


JSON_LINES = "application/x-ndjson"


@router.get("/projects/{project_id}/browse/export", response_class=StreamingResponse,
            responses={200: {"description": "One JSON object per line, per item",
                             "content": {JSON_LINES: {"schema": {"type": "string"}}}}})
def export_selection(project: ProjectDep, _: Reviewer, ctx: Ctx, request: Request,
                     ids: Annotated[list[int] | None, Query()] = None) -> StreamingResponse:
    """The items of a filter (the same query parameters as the page) or the rows ``ids``
    as JSON lines, with state and final label (reviewer, admin)."""
    b = _browse(ctx, project)
    f = BrowseQuery.of_pairs(request.query_params.multi_items()).build(b, ids=ids)
    return StreamingResponse(b.export_lines(f), media_type=JSON_LINES,
                             headers={"Content-Disposition":
                                      f'attachment; filename="{project.name}-selection.jsonl"'})


# -- the page -------------------------------------------------------------------------------
@pages.get("/p/{project_id}/items")
def browse_page(request: Request, project: ProjectDep, user: Reviewer, ctx: Ctx,
                sort: str = "id", desc: bool = False, cursor: str | None = None,
                changed: int | None = None, matched: int | None = None,
                done: str | None = None) -> Response:
    """The data browser: filter form, a page of the table, bulk actions."""
    b = _browse(ctx, project)
    q = BrowseQuery.of_pairs(request.query_params.multi_items())
    f = q.build(b)
    page = b.page(f, sort=_check_sort(sort), desc=desc, cursor=cursor, limit=PAGE)
    keep = [*q.pairs(), ("sort", sort), *([("desc", "true")] if desc else [])]
    report = None
    if done in ACTIONS and changed is not None and matched is not None:
        report = (done, changed, matched)
    return _page(request, "browse.html", user, project=ProjectOut.of(project), q=q,
                 rows=page.rows, next_cursor=page.next, count=b.count(f, cap=COUNT_CAP),
                 count_cap=COUNT_CAP, sort=sort,
                 desc=desc, sorts=SORTS, states=STATES, query=urlencode(keep),
                 filter_query=urlencode(q.pairs()), report=report,
                 classes=project.schema.names, first=cursor is None,
                 image_urls={r.item.id: ItemOut.of(project.id, r.item).image_url
                             for r in page.rows})


@pages.post("/p/{project_id}/items/bulk")
def browse_bulk(request: Request, project: ProjectDep, user: Reviewer, ctx: Ctx,
                action: Annotated[str, Form()], scope: Annotated[str, Form()] = "checked",
                ids: Annotated[list[int] | None, Form()] = None,
                filter: Annotated[str, Form()] = "", split: Annotated[str, Form()] = "",
                back: Annotated[str, Form()] = "",
                confirm: Annotated[str, Form()] = "") -> Response:
    """A bulk action from the page: on the checked rows, or (``scope=filter``) on every
    item of the filter; back to the page with what it changed. ``delete`` (admins) first
    answers a confirmation page naming how many items go; its button sends
    ``confirm=yes``."""
    b = _browse(ctx, project)
    q = BrowseQuery.of_pairs(parse_qsl(filter))
    if scope != "filter" and not ids:
        raise ValidationError("no row is checked: check rows, or choose 'every match'")
    f = q.build(b, ids=None if scope == "filter" else ids)
    if action == "export":  # the download: the filter, or the checked rows
        picked = q.pairs() if scope == "filter" else [("ids", str(i)) for i in ids or []]
        return RedirectResponse(f"/api/v1/projects/{project.id}/browse/export?"
                                f"{urlencode(picked)}", status_code=303)
    if action == "delete" and confirm != "yes":
        require(user, "manage")
        return _page(request, "browse_confirm.html", user, project=ProjectOut.of(project),
                     count=b.count(f), scope=scope, ids=ids or [], filter=filter, back=back)
    res = run_bulk(b, user, action, f, split or None)
    report = [("done", action), ("changed", str(res.changed)), ("matched", str(res.matched))]
    keep = [(k, v) for k, v in parse_qsl(back) if k not in ("done", "changed", "matched")]
    keep += report
    return RedirectResponse(f"/p/{project.id}/items?{urlencode(keep)}", status_code=303)
