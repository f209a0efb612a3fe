"""Errors raised by member services. `code` is stable; `field` names the input when it belongs to one."""


class MemberError(Exception):
    """A member rule was broken (e.g. `email_taken`, `member_erased`)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
