"""Routes that look at faces: enrol, verify (logged as attendance), identify."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from facedb import access
from facedb.api import docs, guard
from facedb.api.auth import require
from facedb.api.errors import ApiError
from facedb.api.jsonbody import JsonRoute
from facedb.api.schemas import (
    EnrolFields,
    EnrolJson,
    EnrolOut,
    IdentifyFields,
    IdentifyJson,
    IdentifyOut,
    VerifyEmbeddingJson,
    VerifyFields,
    VerifyJson,
    VerifyOut,
)
from facedb.api.state import state_of
from facedb.api.uploads import read_body, read_embedding
from facedb.domain.keys import ApiKeyInfo
from facedb.errors import NoFaceError, UnknownUserError
from facedb.usecases.results import EnrolResult, IdentifyResult, VerifyResult
from facedb.usecases.uploads import decode_image, decode_images

router = APIRouter(prefix="/v1", tags=["faces"], route_class=JsonRoute)


@router.post(
    "/enrol",
    status_code=201,
    response_model=EnrolOut,
    responses=docs.errors(400, 401, 403, 409, 413, 415, 422, 503),
    openapi_extra=docs.image_body(EnrolFields, EnrolJson, many=True),
)
async def enrol(request: Request, _: Annotated[ApiKeyInfo, Depends(require("enrol"))]) -> EnrolOut:
    """Enrol a person from one or more images (admin).

    The faces pass the quality gate; the best diverse ones are stored in one
    transaction. A name already enrolled is 409 unless `add`; a face that matches
    another person is 409 unless `force`.
    """
    fields, upload = await read_body(request, EnrolFields, EnrolJson, "images")
    state = state_of(request)

    def work() -> EnrolResult:
        source, _ = decode_images(upload.images, f"{len(upload.images)} uploaded image(s)")
        return state.service.enrol(
            fields.name,
            source,
            frames=len(upload.images),
            add=fields.add,
            force=fields.force,
            largest=fields.largest,
        )

    return EnrolOut.of(await state.infer(work))


@router.post(
    "/verify",
    response_model=VerifyOut,
    responses=docs.errors(400, 401, 403, 404, 413, 415, 422, 503),
    openapi_extra=docs.image_body(VerifyFields, VerifyJson, many=True),
)
async def verify(
    request: Request,
    key: Annotated[ApiKeyInfo, Depends(require("verify", "verify_embedding"))],
) -> VerifyOut:
    """Who is this (1:N), or is it the claimed `name` (1:1)? Recorded as attendance,
    one record per presence.

    Up to three good faces of the images (one per image, the largest) are averaged
    into one probe, as `facedb verify` does. The attendance row names the API key
    as its device. Liveness is checked as for a camera (FACEDB_LIVENESS=auto): a
    photo held up to the kiosk is decision `spoof`, logged. A kiosk polls: a person
    or stranger who stays in front of it is one presence, so a doubtful answer
    (unknown, rejected, ambiguous, spoof) that continues the key's last one within
    FACEDB_PRESENCE_GAP adds a look to that row (`logged` false, `event_id` that
    row's) instead of a new row and review item; an accepted person is recorded once
    per cooldown.

    One meaning per status: 200 is a decision (recorded, or counted in a presence or
    cooldown); 422 `no_face` / `bad_quality` is a look with no usable face, counted
    in the metrics and never recorded.

    Vision at the edge: a **device** key sends instead the embedding its own models
    computed, as JSON `{"embedding": [512 numbers], "model": "<embedder>", "name":
    ..., "liveness": ...}`, for the gallery's model only; the answer is the same, with
    no images or faces. A device key sends no images; no other key sends embeddings.
    """
    embedded = await read_embedding(request, VerifyEmbeddingJson)
    if embedded is not None:
        return await _verify_embedding(request, key, embedded)
    if not access.allows(key.role, "verify"):
        raise ApiError(403, "forbidden", f"a {key.role} key sends an embedding, not images")
    state = state_of(request)
    state.attempts.check(key.name)  # facedb/api/guard.py
    fields, upload = await read_body(request, VerifyFields, VerifyJson, "images")
    kiosk = key.role == "kiosk"

    def work() -> tuple[VerifyResult, list[str]]:
        # A verification is a presence: its images are what a camera in front of the
        # person saw, checked for liveness like a camera's frames (docs/LIVENESS.md).
        source, origins = decode_images(
            upload.images, f"{len(upload.images)} uploaded image(s)", from_camera=True
        )
        try:
            result = state.service.verify(source, name=fields.name, presence=True, device=key.name)
        except UnknownUserError:
            if not kiosk or fields.name is None:
                raise
            result = state.service.refuse_unknown_claim(source, fields.name, key.name)
        return result, origins

    result, origins = await state.infer(work)
    if result.decision == "no_face":
        raise ApiError(422, "no_face", f"no face found in {result.frames} image(s)")
    if result.decision == "bad_quality":
        raise ApiError(422, "bad_quality", "no usable face: " + "; ".join(result.reasons))
    state.attempts.charge(key.name)
    out = VerifyOut.of(result, origins)
    return guard.kiosk_verify(out) if kiosk else out


async def _verify_embedding(
    request: Request, key: ApiKeyInfo, body: VerifyEmbeddingJson
) -> VerifyOut:
    if not access.allows(key.role, "verify_embedding"):
        raise ApiError(
            403,
            "forbidden",
            "only a device key may send an embedding (facedb keys create --role device)",
        )
    state = state_of(request)
    state.attempts.check(key.name)  # facedb/api/guard.py: devices are rate-limited too

    def work() -> VerifyResult:
        return state.service.verify_embedding(
            body.embedding,
            model=body.model,
            device=key.name,
            name=body.name,
            liveness=body.liveness,
        )

    result = await state.run(work)
    state.attempts.charge(key.name)
    return VerifyOut.of(result, []).model_copy(update={"images": 0, "faces": []})


@router.post(
    "/identify",
    response_model=IdentifyOut,
    responses=docs.errors(400, 401, 403, 413, 415, 422, 503),
    openapi_extra=docs.image_body(IdentifyFields, IdentifyJson, many=False),
)
async def identify(
    request: Request,
    key: Annotated[ApiKeyInfo, Depends(require("identify"))],
    top: Annotated[int, Query(ge=1, le=10, description="Candidates per face.")] = 3,
) -> IdentifyOut:
    """Every face of one image, with who it is: boxes, names, similarities.

    A face gets a name when it passes the quality gate and its best similarity
    reaches the threshold. A look-up: nothing is logged.
    """
    state = state_of(request)
    state.attempts.check(key.name)  # facedb/api/guard.py
    _fields, upload = await read_body(request, IdentifyFields, IdentifyJson, "image")
    if len(upload.images) != 1:
        raise ApiError(422, "bad_input", "identify takes exactly one image")

    def work() -> IdentifyResult:
        return state.service.identify_faces(decode_image(upload.images[0]), top=top)

    result = await state.infer(work)
    if not result.faces:
        raise NoFaceError("no face found in the image")
    state.attempts.charge(key.name)
    out = IdentifyOut.of(result)
    return guard.kiosk_identify(out) if key.role == "kiosk" else out
