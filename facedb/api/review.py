"""The review queue over HTTP, for the admin page (static/review.html): the doubtful
events with their candidates, their kept face as a JPEG, and the queue's actions.
Admin keys only (the "users" action of facedb.access); docs/REVIEW.md."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from facedb.api import docs
from facedb.api.auth import require
from facedb.api.jsonbody import JsonRoute
from facedb.api.state import state_of
from facedb.domain.evidence import EvidenceInfo
from facedb.domain.keys import ApiKeyInfo
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.review.service import Review, ReviewResult

router = APIRouter(prefix="/v1/review", tags=["review"], route_class=JsonRoute)

Admin = Annotated[ApiKeyInfo, Depends(require("users"))]


class CandidateOut(BaseModel):
    name: str
    similarity: float


class EvidenceOut(BaseModel):
    event_id: uuid.UUID
    occurred_at: datetime
    kind: str
    decision: str
    name: str | None
    claimed: str | None
    similarity: float | None
    threshold: float | None
    runner_up: float | None
    device: str | None
    quality_ok: bool
    reasons: list[str]
    candidates: list[CandidateOut]
    status: str
    reviewed_by: str | None
    reviewed_person: str | None

    @classmethod
    def of(cls, e: EvidenceInfo) -> EvidenceOut:
        return cls(
            event_id=e.event_id,
            occurred_at=e.occurred_at,
            kind=e.kind,
            decision=e.decision,
            name=e.name,
            claimed=e.claimed,
            similarity=e.similarity,
            threshold=e.threshold,
            runner_up=e.runner_up,
            device=e.device,
            quality_ok=e.quality_ok,
            reasons=list(e.reasons),
            candidates=[CandidateOut(name=c.name, similarity=c.similarity) for c in e.candidates],
            status=e.status,
            reviewed_by=e.reviewed_by,
            reviewed_person=e.reviewed_person,
        )


class ActionIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ReassignIn(ActionIn):
    person: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)


class ReviewOut(BaseModel):
    event_id: uuid.UUID
    action: str
    person: str | None
    correction_id: int | None

    @classmethod
    def of(cls, r: ReviewResult) -> ReviewOut:
        return cls(
            event_id=r.event_id, action=r.action, person=r.person, correction_id=r.correction_id
        )


def _review(request: Request) -> Review:
    return Review(state_of(request).service)


@router.get("", response_model=list[EvidenceOut], responses=docs.errors(401, 403, 422, 503))
async def queue(
    request: Request,
    _: Admin,
    status: Annotated[str, Query(pattern="^(open|reviewed|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EvidenceOut]:
    """The doubtful events with kept evidence, newest first (admin)."""
    review = _review(request)
    rows = await state_of(request).run(lambda: review.queue(status=status, limit=limit))
    return [EvidenceOut.of(r) for r in rows]


@router.get(
    "/{event}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **docs.errors(401, 403, 422, 503)},
)
async def thumbnail(request: Request, event: str, _: Admin) -> Response:
    """The kept face of the event, a JPEG (admin)."""
    review = _review(request)
    _event_id, data = await state_of(request).run(lambda: review.thumbnail(event))
    return Response(
        data,
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


async def _act(request: Request, work: Callable[[], ReviewResult]) -> ReviewOut:
    return ReviewOut.of(await state_of(request).run(work))


@router.post("/{event}/accept", response_model=ReviewOut, responses=docs.errors(401, 403, 422))
async def accept(request: Request, event: str, body: ActionIn, key: Admin) -> ReviewOut:
    """Confirm the decision as logged (admin)."""
    review = _review(request)
    return await _act(request, lambda: review.accept(event, by=key.name, note=body.note))


@router.post("/{event}/dismiss", response_model=ReviewOut, responses=docs.errors(401, 403, 422))
async def dismiss(request: Request, event: str, body: ActionIn, key: Admin) -> ReviewOut:
    """Take the event out of the queue (admin)."""
    review = _review(request)
    return await _act(request, lambda: review.dismiss(event, by=key.name, note=body.note))


@router.post(
    "/{event}/reassign", response_model=ReviewOut, responses=docs.errors(401, 403, 404, 409, 422)
)
async def reassign(request: Request, event: str, body: ReassignIn, key: Admin) -> ReviewOut:
    """The event was this person: an attendance correction (admin)."""
    review = _review(request)
    return await _act(
        request, lambda: review.reassign(event, body.person, by=key.name, note=body.note)
    )


class UnknownGroupOut(BaseModel):
    id: str
    count: int
    devices: list[str]
    first_seen: datetime
    last_seen: datetime
    cohesion: float
    event_ids: list[uuid.UUID]


class GroupEnrolIn(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)


class GroupEnrolOut(BaseModel):
    group: str
    name: str
    created: bool
    added: int
    total: int
    events: int


class GroupDismissOut(BaseModel):
    group: str
    dismissed: int


@router.get(
    "/unknowns", response_model=list[UnknownGroupOut], responses=docs.errors(401, 403, 422, 503)
)
async def unknowns(
    request: Request, _: Admin, min_count: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> list[UnknownGroupOut]:
    """The open unknown faces grouped by stranger, largest group first (admin)."""
    review = _review(request)
    groups = await state_of(request).run(lambda: review.unknowns(min_count=min_count))
    return [
        UnknownGroupOut(
            id=g.id,
            count=g.count,
            devices=list(g.devices),
            first_seen=g.first_seen,
            last_seen=g.last_seen,
            cohesion=g.cohesion,
            event_ids=list(g.event_ids),
        )
        for g in groups
    ]


@router.post(
    "/unknowns/{group}/enrol",
    response_model=GroupEnrolOut,
    responses=docs.errors(401, 403, 409, 422, 503),
)
async def enrol_group(
    request: Request, group: str, body: GroupEnrolIn, key: Admin
) -> GroupEnrolOut:
    """Enrol every face of the group as a new person, with enrolment's checks (admin)."""
    review = _review(request)
    result = await state_of(request).run(lambda: review.enrol_group(group, body.name, by=key.name))
    e = result.enrolment
    return GroupEnrolOut(
        group=result.group,
        name=e.name,
        created=e.created,
        added=e.added,
        total=e.total,
        events=result.events,
    )


@router.post(
    "/unknowns/{group}/dismiss",
    response_model=GroupDismissOut,
    responses=docs.errors(401, 403, 422, 503),
)
async def dismiss_group(
    request: Request, group: str, body: ActionIn, key: Admin
) -> GroupDismissOut:
    """Take every event of the group out of the queue (admin)."""
    review = _review(request)
    count = await state_of(request).run(
        lambda: review.dismiss_group(group, by=key.name, note=body.note)
    )
    return GroupDismissOut(group=group, dismissed=count)
