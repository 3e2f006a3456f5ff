"""Reading the images of a request: multipart/form-data "image" parts, or JSON with
base64 images. Encoded bytes are read here (on the event loop: no decoding; a JSON
body is parsed and its base64 decoded in a worker thread, facedb/api/jsonbody.py);
the pixels are decoded in a worker thread (facedb/usecases/uploads.py)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from facedb.api.errors import ApiError
from facedb.api.jsonbody import parse_json
from facedb.api.schemas import MAX_IMAGES
from facedb.usecases.uploads import EncodedImage

F = TypeVar("F", bound=BaseModel)

IMAGE_PART = "image"
_DATA_URL = re.compile(r"^data:[\w.+/-]*(;[\w-]+=[\w.-]+)*;base64,", re.IGNORECASE)
# Multipart fields other than images: a handful of short values.
_MAX_FIELDS = 20


@dataclass(frozen=True)
class Upload:
    images: list[EncodedImage]


async def read_body(
    request: Request, fields_model: type[F], json_model: type[BaseModel], image_key: str
) -> tuple[F, Upload]:
    """The request's fields (validated by ``fields_model``) and its encoded images.

    JSON bodies are validated by ``json_model`` (fields plus ``image_key``: one base64
    string or a list of them). Raises ApiError 415 for another content type, 422
    when there is no image or too many.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raw, images = await _read_multipart(request, media == "multipart/form-data")
    elif media == "application/json" or media.endswith("+json"):
        raw, images = await _read_json(request, json_model, image_key)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send multipart/form-data (image parts) or application/json (base64 images)",
        )
    fields = validate(fields_model, raw)
    if not images:
        raise ApiError(422, "bad_input", f"no image: send one or more {IMAGE_PART!r} parts")
    if len(images) > MAX_IMAGES:
        raise ApiError(422, "bad_input", f"at most {MAX_IMAGES} images per request")
    return fields, Upload(images)


async def read_embedding(request: Request, json_model: type[F]) -> F | None:
    """A device's embedding body (JSON with an "embedding" key), validated by
    ``json_model``; None for any other body (images, read by ``read_body``)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not (media == "application/json" or media.endswith("+json")):
        return None
    body = await request.body()  # Starlette keeps the body for read_body
    if b'"embedding"' not in body:  # images: parsed once, by read_body
        return None
    try:
        payload = await parse_json(body)  # bounded, off the event loop (api/jsonbody.py)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None  # read_body says what is wrong with it
    if not isinstance(payload, dict) or "embedding" not in payload:
        return None
    return validate(json_model, payload)


def validate(model: type[F], raw: dict[str, Any]) -> F:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


class _StrictMultiPartParser(MultiPartParser):
    """Starlette's parser, except that a text field that is not valid in its charset
    (UTF-8 unless the form says otherwise) is refused instead of read as Latin-1."""

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset or "utf-8")
            except (UnicodeDecodeError, LookupError):
                raise MultiPartException(
                    f"the field {part.field_name!r} is not {(self._charset or 'utf-8').upper()} text"
                ) from None
        super().on_part_end()


async def _parse_form(request: Request, multipart: bool) -> FormData:
    if not multipart:
        return await request.form(max_files=MAX_IMAGES + 1, max_fields=_MAX_FIELDS)
    parser = _StrictMultiPartParser(
        request.headers, request.stream(), max_files=MAX_IMAGES + 1, max_fields=_MAX_FIELDS
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc.message}") from None


async def _read_multipart(
    request: Request, multipart: bool
) -> tuple[dict[str, Any], list[EncodedImage]]:
    form = await _parse_form(request, multipart)
    try:
        fields: dict[str, Any] = {}
        images: list[EncodedImage] = []
        for key, value in form.multi_items():
            if key == IMAGE_PART:
                if isinstance(value, UploadFile):
                    data = await value.read()
                    label = _label(len(images), value.filename)
                else:
                    data, label = value.encode("utf-8"), _label(len(images), None)
                images.append(EncodedImage(data, label))
            elif isinstance(value, str):
                if key in fields:
                    raise ApiError(422, "bad_input", f"the field {key!r} is given twice")
                fields[key] = value
            else:
                raise ApiError(422, "bad_input", f"unexpected file part {key!r}")
        return fields, images
    finally:
        await form.close()


async def _read_json(
    request: Request, json_model: type[BaseModel], image_key: str
) -> tuple[dict[str, Any], list[EncodedImage]]:
    try:
        payload = await parse_json(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "the body is not valid JSON") from None
    except RecursionError:
        raise ApiError(400, "bad_request", "the JSON body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "bad_input", "the body must be a JSON object")

    def images_of(payload: dict[str, Any]) -> tuple[dict[str, Any], list[EncodedImage]]:
        validated = validate(json_model, payload).model_dump()
        encoded = validated.pop(image_key)
        strings = encoded if isinstance(encoded, list) else [encoded]
        images = [EncodedImage(_from_base64(s, i), _label(i, None)) for i, s in enumerate(strings)]
        return validated, images

    return await run_in_threadpool(images_of, payload)  # megabytes of base64: off the loop


def _from_base64(text: str, index: int) -> bytes:
    text = _DATA_URL.sub("", text.strip(), count=1)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_image", f"image #{index} is not valid base64") from None


def _label(index: int, filename: str | None) -> str:
    if filename:
        shown = "".join(ch for ch in filename if ch.isprintable())[:80]
        return f"#{index} ({shown})"
    return f"#{index}"
