"""Every error the API answers, as JSON {"error": {"code": ..., "message": ...}}.

A facedb.errors exception answers with the HTTP status and API code its class
declares.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from facedb import errors

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "bad_input",
}


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class ErrorOut(BaseModel):
    """What every error response holds."""

    model_config = ConfigDict(frozen=True)

    error: ErrorBody


class ApiError(Exception):
    """An error decided by the API layer itself (authentication, limits, decisions)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "; ".join(parts) or "invalid request"


def _internal_error() -> JSONResponse:
    return error_response(500, "internal_error", "internal error (see the server log)")


async def _facedb_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, errors.FacedbError):
        return await _unexpected(_, exc)
    if exc.http_status >= 500:
        log.warning("%s: %s", exc.api_code, exc.message)
    return error_response(exc.http_status, exc.api_code, exc.message)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):
        return await _unexpected(_, exc)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        return await _unexpected(_, exc)
    return error_response(422, "bad_input", _validation_message(exc))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        return await _unexpected(_, exc)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers: dict[str, str] | None = getattr(exc, "headers", None)
    return error_response(exc.status_code, code, str(exc.detail), headers)


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    # The server went away after the engine was opened: a lost connection.
    if isinstance(exc, OperationalError):
        log.warning("database unreachable: %s", exc.orig)
        return error_response(503, "database_unavailable", "the database is unreachable")
    return await _unexpected(_, exc)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return _internal_error()


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every failure into the JSON error form."""
    app.add_exception_handler(errors.FacedbError, _facedb_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
