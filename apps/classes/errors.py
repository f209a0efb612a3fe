"""Errors raised by class and schedule services. `code` is stable; `field` names the input."""


class ClassError(Exception):
    """A class/schedule/session rule was broken (e.g. `schedule_unbounded`, `session_in_past`)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
