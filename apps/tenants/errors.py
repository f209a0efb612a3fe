"""Errors raised by gym services. Each carries a stable `code` and, where it
belongs to one form field, that `field`."""


class GymError(Exception):
    """A gym rule was broken. `code` is stable; `message` is for people; `field` names the input."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
