"""Review: the queue of doubtful decisions and the groups of unknown faces, with
their faces; accept, dismiss (one or many at once), reassign, enrol a group (admin).

A reassignment is never suggested below the 1:1 threshold: the person's field is
pre-filled only with a candidate whose similarity reaches it, else the manager
chooses the person."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from facedb import timezones
from facedb.api.console import render
from facedb.api.console.common import Admin, Changer, back, state
from facedb.api.docs import errors
from facedb.domain.evidence import Candidate
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.review.service import Review

router = APIRouter()
_NOTE = Form(max_length=2000)


def prefill(candidates: Sequence[Candidate], one_to_one: float) -> str:
    """The person a reassignment suggests: the best candidate if their similarity
    reaches the 1:1 threshold, else nobody ("")."""
    best = max(candidates, key=lambda c: c.similarity, default=None)
    return best.name if best is not None and best.similarity >= one_to_one else ""


@router.get(
    "/admin/review",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
    summary="Console: the review queue",
)
async def review_page(
    request: Request,
    visitor: Admin,
    decision: Annotated[str, Query(max_length=20)] = "",
    device: Annotated[str, Query(max_length=NAME_MAX_LENGTH)] = "",
    since: Annotated[str, Query(max_length=10, description="YYYY-MM-DD")] = "",
    status: Annotated[str, Query(pattern="^(open|reviewed|all)$")] = "open",
) -> Response:
    """The queue (filtered by decision, device, first day) and the unknown groups."""
    found = state(request)
    review = Review(found.service)
    start = datetime.combine(timezones.parse_day(since, "UTC"), time(0), UTC) if since else None
    rows = await found.run(
        lambda: review.queue(
            status=status, decisions=[decision] if decision else None, since=start, limit=200
        )
    )
    if device:
        rows = [r for r in rows if r.device == device]
    one_to_one = (await found.run(found.service.policy_status)).one_to_one.value
    people = [u.name for u in await found.run(found.service.users)]
    groups = await found.run(review.unknowns)
    return render.page(
        request,
        "review.html",
        visitor,
        rows=[(r, prefill(r.candidates, one_to_one)) for r in rows],
        one_to_one=one_to_one,
        people=people,
        groups=groups,
        decision=decision,
        device=device,
        since=since,
        status=status,
    )


@router.get(
    "/admin/review/{event}/face.jpg",
    response_class=Response,
    summary="Console: the kept face of an event",
    responses={200: {"content": {"image/jpeg": {}}}, **errors(401, 403, 422)},
)
async def face(request: Request, event: str, _: Admin) -> Response:
    """The face a kiosk kept for review, a JPEG."""
    review = Review(state(request).service)
    _id, data = await state(request).run(lambda: review.thumbnail(event))
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.post(
    "/admin/review/bulk",
    response_class=Response,
    status_code=303,
    summary="Console: accept or dismiss selected events",
    responses=errors(401, 403, 422),
)
async def bulk(
    request: Request,
    visitor: Changer,
    event: Annotated[list[str], Form(max_length=200)],
    action: Annotated[str, Form(pattern="^(accept|dismiss)$")],
    note: Annotated[str, _NOTE] = "",
) -> Response:
    """Accepts or dismisses every selected event; the signed-in key is the reviewer."""
    review = Review(state(request).service)
    act = review.accept if action == "accept" else review.dismiss

    def work() -> int:
        for one in event:
            act(one, by=visitor.key.name, note=note.strip() or None)
        return len(event)

    count = await state(request).run(work)
    return back("/admin/review", f"{action}ed {count} event(s)")


@router.post(
    "/admin/review/{event}/reassign",
    response_class=Response,
    status_code=303,
    summary="Console: reassign an event to a person",
    responses=errors(401, 403, 404, 409, 422),
)
async def reassign(
    request: Request,
    event: str,
    visitor: Changer,
    person: Annotated[str, Form(min_length=1, max_length=NAME_MAX_LENGTH)],
    note: Annotated[str, _NOTE] = "",
) -> Response:
    """The event was this person: an attendance correction by the signed-in key."""
    review = Review(state(request).service)
    done = await state(request).run(
        lambda: review.reassign(event, person, by=visitor.key.name, note=note.strip() or None)
    )
    return back("/admin/review", f"reassigned to {done.person}")


@router.post(
    "/admin/review/unknowns/{group}",
    response_class=Response,
    status_code=303,
    summary="Console: enrol or dismiss a group of unknown faces",
    responses=errors(401, 403, 409, 422, 503),
)
async def unknown_group(
    request: Request,
    group: str,
    visitor: Changer,
    action: Annotated[str, Form(pattern="^(enrol|dismiss)$")],
    name: Annotated[str, Form(max_length=NAME_MAX_LENGTH)] = "",
) -> Response:
    """Enrols every face of the group as a new person, or dismisses the group."""
    found = state(request)
    review = Review(found.service)
    if action == "enrol":
        result = await found.infer(lambda: review.enrol_group(group, name, by=visitor.key.name))
        return back(
            "/admin/review", f"enrolled {result.enrolment.name} from {result.events} event(s)"
        )
    count = await found.run(lambda: review.dismiss_group(group, by=visitor.key.name))
    return back("/admin/review", f"dismissed {count} event(s)")
