"""The base of every domain app's rule error (bookings, memberships, check-ins, invoices)."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule was broken; nothing was changed when it is raised.

    `code` is stable (the API returns it as `error.code`); `message` is a sentence for
    the member or staff; `field` names the form or API input it belongs to, if any.
    Each app subclasses it (`BookingError`, `MembershipError`, ...) and lists its codes
    in its `errors.py`.
    """

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"
