"""Errors a service raises for a user to read. Faces turn them into a page, a JSON body or
a socket ack; `message` is a lazy translation, evaluated in the user's language."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: Any, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(str(code or self.code))
        self.message = message
        if code:
            self.code = code
        self.field = field

    def __str__(self) -> str:
        return str(self.message)

    def as_dict(self) -> dict[str, Any]:
        body = {"ok": False, "error": self.code, "message": str(self.message)}
        if self.field:
            body["field"] = self.field
        return body


class ValidationError(ServiceError):
    code = "invalid"
    http_status = 400


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class Conflict(ServiceError):
    code = "conflict"
    http_status = 409


class Forbidden(ServiceError):
    """The person may not do this (their role, or a link that no longer holds)."""

    code = "forbidden"
    http_status = 403


class AddressTaken(ValidationError):
    """An address (slug) in use, with a free one to offer: the form shows it filled in, so
    one more click saves."""

    code = "slug_taken"

    def __init__(self, message: Any, *, proposal: str, field: str = "slug") -> None:
        super().__init__(message, field=field)
        self.proposal = proposal

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | {"proposal": self.proposal}
