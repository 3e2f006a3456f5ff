"""People: the list with search, a person's page (faces, sites and groups,
look-alikes), enrolment from uploaded photos with what became of each photo, more
faces, rename, remove and forget (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, UploadFile
from starlette.responses import JSONResponse, Response

from facedb.api.console import render
from facedb.api.console.common import Admin, Changer, back, state, time_attendance
from facedb.api.docs import errors
from facedb.api.errors import ApiError
from facedb.api.schemas import MAX_IMAGES
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.usecases import photos
from facedb.usecases.merge import merge_users
from facedb.usecases.uploads import EncodedImage

router = APIRouter()
# People listed on one page of the list.
PAGE_SIZE = 200
_NAME = Form(min_length=1, max_length=NAME_MAX_LENGTH)


@router.get(
    "/admin/people",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
    summary="Console: people",
)
async def people_page(
    request: Request,
    visitor: Admin,
    q: Annotated[str, Query(max_length=NAME_MAX_LENGTH, description="Name or external id")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    site: Annotated[str, Query(max_length=NAME_MAX_LENGTH)] = "",
    group: Annotated[str, Query(max_length=NAME_MAX_LENGTH)] = "",
) -> Response:
    """Everyone enrolled (searched by name or external id, of a site or group), the
    add-a-person form."""
    found = state(request)
    ta = time_attendance(request)
    users = await found.run(found.service.users)
    if site or group:
        scope = await found.run(lambda: ta.scope(site=site or None, group=group or None))
        members = set(scope or [])
        users = [u for u in users if u.id in members]
    wanted = q.strip().casefold()
    if wanted:
        users = [
            u
            for u in users
            if wanted in u.name.casefold() or wanted in (u.external_id or "").casefold()
        ]
    start = (page - 1) * PAGE_SIZE
    return render.page(
        request,
        "people.html",
        visitor,
        q=q,
        site=site,
        group=group,
        sites=await found.run(ta.sites),
        groups=await found.run(ta.groups),
        users=users[start : start + PAGE_SIZE],
        total=len(users),
        page=page,
        pages=max(1, -(-len(users) // PAGE_SIZE)),
        max_images=MAX_IMAGES,
    )


@router.get(
    "/admin/people/{name}",
    response_class=Response,
    summary="Console: a person",
    responses=errors(404),
)
async def person_page(request: Request, name: str, visitor: Admin) -> Response:
    """A person: faces stored, sites and groups, look-alikes; rename, add faces,
    remove, forget."""
    found = state(request)
    ta = time_attendance(request)
    user = await found.run(lambda: found.service.user(name))
    membership = await found.run(lambda: ta.membership(user.name))
    sites = await found.run(ta.sites)
    groups = await found.run(ta.groups)
    lookalikes = [
        row
        for row in await found.run(found.service.lookalikes)
        if user.name in (row.name, row.other)
    ]
    return render.page(
        request,
        "person.html",
        visitor,
        user=user,
        membership=membership,
        sites=sites,
        groups=groups,
        lookalikes=lookalikes,
        max_images=MAX_IMAGES,
    )


async def _photos(files: list[UploadFile]) -> list[EncodedImage]:
    if not files or len(files) > MAX_IMAGES:
        raise ApiError(422, "bad_input", f"upload 1 to {MAX_IMAGES} photos")
    return [
        EncodedImage(await f.read(), f"{f.filename or f'photo {i + 1}'}")
        for i, f in enumerate(files)
    ]


async def _enrol(
    request: Request, visitor: Changer, name: str, files: list[UploadFile], *, add: bool
) -> Response:
    images = await _photos(files)
    found = state(request)
    outcome = await found.infer(lambda: photos.enrol_photos(found.service, name, images, add=add))
    return render.page(
        request,
        "enrolled.html",
        visitor,
        http_status=201 if outcome.result is not None else 422,
        name=name,
        outcome=outcome,
    )


@router.post(
    "/admin/people/check",
    summary="Console: check photos before enrolling",
    responses=errors(401, 403, 404, 413, 422, 503),
)
async def check(
    request: Request,
    _: Changer,
    photo: Annotated[list[UploadFile], Form(description="1 to 10 photos")],
    person: Annotated[str, Form(max_length=NAME_MAX_LENGTH)] = "",
) -> JSONResponse:
    """What enrolment would make of each photo (kept, or why not; whom it resembles),
    without enrolling: the add-a-person form's live feedback."""
    images = await _photos(photo)
    found = state(request)
    checked = await found.infer(lambda: photos.check_photos(found.service, images, person or None))
    return JSONResponse(
        {"photos": [{"label": p.label, "kept": p.kept, "reason": p.reason} for p in checked]},
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/admin/people",
    response_class=Response,
    status_code=201,
    summary="Console: add a person from photos",
    responses=errors(401, 403, 413, 422, 503),
)
async def add_person(
    request: Request,
    visitor: Changer,
    name: Annotated[str, _NAME],
    photo: Annotated[list[UploadFile], Form(description="1 to 10 photos of the person alone")],
) -> Response:
    """Enrols a new person from uploaded photos; the page says which photos were
    kept and why the others were not (201; 422 when nothing was enrolled)."""
    return await _enrol(request, visitor, name, photo, add=False)


@router.post(
    "/admin/people/{name}/faces",
    response_class=Response,
    status_code=201,
    summary="Console: add faces to a person",
    responses=errors(401, 403, 404, 413, 422, 503),
)
async def add_faces(
    request: Request,
    name: str,
    visitor: Changer,
    photo: Annotated[list[UploadFile], Form(description="1 to 10 photos of the person alone")],
) -> Response:
    """Adds the faces of uploaded photos to an enrolled person."""
    found = state(request)
    user = await found.run(lambda: found.service.user(name))
    return await _enrol(request, visitor, user.name, photo, add=True)


@router.post(
    "/admin/people/{name}/rename",
    response_class=Response,
    status_code=303,
    summary="Console: rename a person",
    responses=errors(401, 403, 404, 409, 422),
)
async def rename(
    request: Request, name: str, _: Changer, new_name: Annotated[str, _NAME]
) -> Response:
    """Renames a person (their faces and attendance follow)."""
    found = state(request)
    user = await found.run(lambda: found.service.rename_user(name, new_name))
    return back(f"/admin/people/{user.name}", f"renamed {name} to {user.name}")


@router.post(
    "/admin/people/{name}/remove",
    response_class=Response,
    status_code=303,
    summary="Console: remove a person",
    responses=errors(401, 403, 404),
)
async def remove(request: Request, name: str, _: Changer) -> Response:
    """Removes a person and their faces; their attendance rows stay, unnamed."""
    found = state(request)
    faces = await found.run(lambda: found.service.remove_user(name))
    return back("/admin/people", f"removed {name} and {faces} face(s)")


@router.post(
    "/admin/people/{name}/forget",
    response_class=Response,
    status_code=303,
    summary="Console: forget a person (erasure)",
    responses=errors(401, 403, 404, 422),
)
async def forget(
    request: Request,
    name: str,
    _: Changer,
    attendance: Annotated[str, Form(pattern="^(keep|anonymise|delete)$")] = "anonymise",
) -> Response:
    """Erases a person's faces everywhere (database, kiosk caches, files rewritten);
    their attendance is kept, unlinked (anonymise) or deleted."""
    found = state(request)
    result = await found.run(lambda: found.service.forget_user(name, attendance))
    return back(
        "/admin/people",
        f"forgot {result.name}: {result.embeddings} face(s) erased, "
        f"{result.attendance_rows} attendance row(s) {result.attendance}",
    )


@router.post(
    "/admin/people/{name}/merge",
    response_class=Response,
    status_code=303,
    summary="Console: merge another person into this one",
    responses=errors(401, 403, 404, 409, 422),
)
async def merge(request: Request, name: str, _: Changer, other: Annotated[str, _NAME]) -> Response:
    """Merges OTHER into this person (one transaction): OTHER's faces, attendance,
    corrections, groups and evidence become this person's, and OTHER is deleted
    (409 when OTHER has events in a locked period)."""
    found = state(request)
    result = await found.run(lambda: merge_users(found.service, name, other))
    return back(
        f"/admin/people/{result.keep}",
        f"merged {result.other} into {result.keep}: {result.faces} face(s), "
        f"{result.attendance_rows} attendance row(s)",
    )


@router.post(
    "/admin/people/{name}/membership",
    response_class=Response,
    status_code=303,
    summary="Console: a person's site and groups",
    responses=errors(401, 403, 404, 422),
)
async def membership(
    request: Request,
    name: str,
    _: Changer,
    site: Annotated[str, Form(max_length=NAME_MAX_LENGTH, description="'' for none")] = "",
    join: Annotated[str, Form(max_length=NAME_MAX_LENGTH, description="a group to join")] = "",
    leave: Annotated[str, Form(max_length=NAME_MAX_LENGTH, description="a group to leave")] = "",
) -> Response:
    """Sets the person's site (empty: none) and joins or leaves a group."""
    ta = time_attendance(request)

    def work() -> None:
        ta.assign_site([name], site or None)
        if join:
            ta.join_group(join, [name], leave=False)
        if leave:
            ta.join_group(leave, [name], leave=True)

    await state(request).run(work)
    return back(f"/admin/people/{name}", "site and groups saved")
